// PeerTransport over TCP: TLS 1.3 keyed by the library secret (TcpTls), length-prefixed MessagePack frames with
// a hard size limit (TcpFraming), and @effect/rpc for requests and answers (TcpRpcs). Invariant, as promised by
// services/PeerTransport.ts: nothing is served to, or accepted from, a connection before both sides proved
// they hold the library secret; a frame that is too large or does not decode closes that one connection with a
// logged ProtocolViolation; a lost or silent peer surfaces as PeerUnavailable, never as a hang.
import { Effect, Layer } from "effect"
import { MAX_FRAME_BYTES } from "../domain/Protocol.js"
import { Credentials } from "../services/Credentials.js"
import { PeerTransport } from "../services/PeerTransport.js"
import type { ClientOptions } from "./TransportTcpClient.js"
import type { ServerOptions } from "./TransportTcpServer.js"

// The two sides are loaded when first used: with them come TLS, MessagePack (and its native decoder) and
// @effect/rpc, which a process that opens a device without ever reaching a peer (a CLI command) never needs
// (docs/architecture.md, "Start-up").
const server = Effect.promise(() => import("./TransportTcpServer.js"))
const client = Effect.promise(() => import("./TransportTcpClient.js"))

/** Timeouts, heartbeat and frame limit of the TCP transport; every field has a default (`defaults`). */
export type TransportTcpOptions = Partial<ClientOptions & ServerOptions>

export const defaults: ClientOptions & ServerOptions = {
  connectTimeoutMillis: 10_000,
  handshakeTimeoutMillis: 10_000,
  requestTimeoutMillis: 30_000,
  heartbeatIntervalMillis: 5_000,
  heartbeatTimeoutMillis: 20_000,
  idleTimeoutMillis: 60_000,
  maxFrameBytes: MAX_FRAME_BYTES
}

export const make = (
  options?: TransportTcpOptions
): Effect.Effect<PeerTransport["Type"], never, Credentials> =>
  Effect.map(Credentials, (credentials) => {
    const resolved = { ...defaults, ...options }
    return PeerTransport.of({
      listen: (address, handler) =>
        Effect.flatMap(server, (s) => s.listen(credentials, resolved)(address, handler)),
      connect: (address) => Effect.flatMap(client, (c) => c.connect(credentials, resolved)(address))
    })
  })

export const layer = (options?: TransportTcpOptions): Layer.Layer<PeerTransport, never, Credentials> =>
  Layer.effect(PeerTransport, make(options))
