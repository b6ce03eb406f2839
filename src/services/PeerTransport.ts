// How devices reach each other. A transport authenticates both sides (domain/Auth.ts) before a single request
// is served, decodes every frame by its Schema, enforces the frame and page limits of domain/Protocol.ts, and
// turns any violation into a typed error that closes that one connection. Layers: TransportMemory (with
// fault injection, for simulations) and TransportTcp (@effect/rpc over TLS sockets).
import { Context, type Effect, Schema, type Request, type Scope } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import type { PeerRequest, RequestRefused } from "../domain/Protocol.js"

/** The peer cannot be reached, or the connection was lost or timed out. Retrying can heal this. */
export class PeerUnavailable extends Schema.TaggedError<PeerUnavailable>()("PeerUnavailable", {
  address: Schema.String,
  reason: Schema.String
}) {
  get message() {
    return `peer ${this.address} unavailable: ${this.reason}`
  }
}

/** The other side did not prove it knows the library secret, or belongs to another library. */
export class AuthenticationFailed extends Schema.TaggedError<AuthenticationFailed>()("AuthenticationFailed", {
  address: Schema.String,
  reason: Schema.String
}) {
  get message() {
    return `authentication with ${this.address} failed: ${this.reason}`
  }
}

/** The peer sent something the protocol forbids (undecodable or oversized frame, too many rows, a clock
 * beyond the drift limit). The connection is closed and nothing of it is applied. */
export class ProtocolViolation extends Schema.TaggedError<ProtocolViolation>()("ProtocolViolation", {
  peer: Schema.String,
  reason: Schema.String
}) {
  get message() {
    return `peer ${this.peer} violated the protocol: ${this.reason}`
  }
}

/** An authenticated connection to one peer. Requests may run concurrently on it. */
export interface PeerConnection {
  readonly peer: DeviceId
  readonly address: string
  readonly send: <R extends PeerRequest>(
    request: R
  ) => Effect.Effect<Request.Request.Success<R>, RequestRefused | PeerUnavailable | ProtocolViolation>
}

/** The serving side: answers requests of authenticated peers. */
export interface PeerHandler {
  readonly handle: <R extends PeerRequest>(
    peer: DeviceId,
    request: R
  ) => Effect.Effect<Request.Request.Success<R>, RequestRefused>
  /** An authenticated peer connected to us / went away (for connection state and logs). */
  readonly connected: (peer: DeviceId, address: string) => Effect.Effect<void>
  readonly disconnected: (peer: DeviceId, address: string) => Effect.Effect<void>
}

/**
 * How devices reach each other: listen for peers, connect to one, and send it requests. Replace it with
 * `Tidemark.layer`'s `transport` (`Transport.tcp`, `Transport.memory`, or an implementation of this).
 */
export class PeerTransport extends Context.Tag("tidemark/PeerTransport")<
  PeerTransport,
  {
    /** Serve peers at `address` until the scope closes; returns the address actually bound. */
    readonly listen: (
      address: string,
      handler: PeerHandler
    ) => Effect.Effect<string, PeerUnavailable, Scope.Scope>
    /** Connect to `address` and authenticate both ways; the connection closes with the scope. */
    readonly connect: (
      address: string
    ) => Effect.Effect<PeerConnection, PeerUnavailable | AuthenticationFailed, Scope.Scope>
  }
>() {}
