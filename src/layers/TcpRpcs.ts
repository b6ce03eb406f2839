// The peer protocol as an @effect/rpc group: the two handshake steps (Hello → HelloReply, Authenticate) and the
// data requests of domain/Protocol.ts, each decoded by its Schema on both sides. Which of them a connection
// may send at a given moment is enforced by the server (TransportTcpServer), not here.
import * as Rpc from "@effect/rpc/Rpc"
import * as RpcGroup from "@effect/rpc/RpcGroup"
import {
  Ack,
  Authenticate,
  Exchange,
  Hello,
  HelloReply,
  Ping,
  Pull,
  PullLog,
  PullRange,
  RequestRefused,
  Summarize
} from "../domain/Protocol.js"

export const HelloRpc = Rpc.make("Hello", { payload: Hello, success: HelloReply, error: RequestRefused })
export const AuthenticateRpc = Rpc.make("Authenticate", { payload: Authenticate, error: RequestRefused })

export const HANDSHAKE_TAGS: ReadonlySet<string> = new Set(["Hello", "Authenticate"])

export class PeerRpcs extends RpcGroup.make(
  HelloRpc,
  AuthenticateRpc,
  Rpc.fromTaggedRequest(Exchange),
  Rpc.fromTaggedRequest(Pull),
  Rpc.fromTaggedRequest(PullLog),
  Rpc.fromTaggedRequest(Ack),
  Rpc.fromTaggedRequest(Ping),
  Rpc.fromTaggedRequest(Summarize),
  Rpc.fromTaggedRequest(PullRange)
) {}
