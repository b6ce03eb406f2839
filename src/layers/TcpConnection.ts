// One TLS socket seen as a sequence of peer messages. Bytes are cut into frames and decoded the moment they
// arrive (TcpFraming); decoded messages are queued in arrival order for one consumer. Invariant: the first
// frame that is oversized, undecodable or not a protocol message ends the connection with a ProtocolViolation,
// the socket is destroyed at once and nothing that arrives after it is delivered. Every socket error is
// handled here, so no peer can raise an unhandled 'error' event in the process.
import type * as RpcSerialization from "@effect/rpc/RpcSerialization"
import { Data, Effect, Exit, Mailbox, type Scope } from "effect"
import type { TLSSocket } from "node:tls"
import { ProtocolViolation } from "../services/PeerTransport.js"
import { FrameError } from "./TcpFraming.js"

/** The connection ended without a protocol violation: closed by either side, reset, or idle too long. */
export class ConnectionLost extends Data.TaggedError("ConnectionLost")<{ readonly reason: string }> {
  get message() {
    return this.reason
  }
}

export type ConnectionEnd = ConnectionLost | ProtocolViolation

export interface FramedConnection<A> {
  /** The peer's "HOST:PORT", for logs and errors. */
  readonly address: string
  /** Messages in arrival order; fails with the reason the connection ended once they are consumed. */
  readonly messages: Mailbox.ReadonlyMailbox<A, ConnectionEnd>
  /** Encode and write one message; a no-op once the socket is closed (the end shows up in `messages`). */
  readonly send: (message: unknown) => Effect.Effect<void, FrameError>
  /** Flush what was written, then close (used after a refusal so the peer can read why). */
  readonly endGracefully: Effect.Effect<void>
  /** Close now. */
  readonly destroy: (end: ConnectionEnd) => Effect.Effect<void>
}

const GRACEFUL_CLOSE_MILLIS = 2_000

export const make = <A>(
  socket: TLSSocket,
  options: {
    readonly address: string
    readonly serialization: RpcSerialization.RpcSerialization["Type"]
    readonly isMessage: (u: unknown) => u is A
    /** Close when nothing was read or written for this long. */
    readonly idleTimeoutMillis?: number | undefined
  }
): Effect.Effect<FramedConnection<A>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { address } = options
    const parser = options.serialization.unsafeMake()
    const mailbox = yield* Mailbox.make<A, ConnectionEnd>()
    const finish = (end: ConnectionEnd) => {
      mailbox.unsafeDone(Exit.fail(end))
    }
    const destroyWith = (end: ConnectionEnd) => {
      finish(end)
      socket.destroy()
    }
    const violate = (reason: string) => destroyWith(new ProtocolViolation({ peer: address, reason }))

    socket.on("data", (chunk: Buffer) => {
      let decoded: ReadonlyArray<unknown>
      try {
        decoded = parser.decode(chunk)
      } catch (cause) {
        return violate(cause instanceof FrameError ? cause.reason : `undecodable frame: ${String(cause)}`)
      }
      for (const message of decoded) {
        if (!options.isMessage(message)) return violate("a frame did not hold a protocol message")
        mailbox.unsafeOffer(message)
      }
    })
    socket.on("end", () => finish(new ConnectionLost({ reason: "the peer closed the connection" })))
    socket.on("error", (cause: Error & { code?: string }) =>
      finish(new ConnectionLost({ reason: cause.code ?? cause.message }))
    )
    socket.on("close", () => finish(new ConnectionLost({ reason: "the connection closed" })))
    if (options.idleTimeoutMillis !== undefined) {
      const idle = options.idleTimeoutMillis
      socket.setTimeout(idle, () =>
        destroyWith(new ConnectionLost({ reason: `nothing received or sent for ${idle} ms` }))
      )
    }
    if (socket.destroyed) finish(new ConnectionLost({ reason: "the connection closed" }))

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => destroyWith(new ConnectionLost({ reason: "the connection was closed locally" })))
    )

    return {
      address,
      messages: mailbox,
      send: (message) =>
        Effect.suspend(() => {
          if (socket.destroyed || !socket.writable) return Effect.void
          let frame: Uint8Array | string | undefined
          try {
            frame = parser.encode(message)
          } catch (cause) {
            return Effect.fail(
              cause instanceof FrameError
                ? cause
                : new FrameError({ reason: `cannot encode: ${String(cause)}` })
            )
          }
          if (frame !== undefined) socket.write(frame)
          return Effect.void
        }),
      endGracefully: Effect.sync(() => {
        socket.end()
        setTimeout(() => socket.destroy(), GRACEFUL_CLOSE_MILLIS).unref()
      }),
      destroy: (end) => Effect.sync(() => destroyWith(end))
    } satisfies FramedConnection<A>
  })

/** Hand every message to `onMessage`, one at a time in arrival order, until the connection ends. */
export const consume = <A>(
  connection: FramedConnection<A>,
  onMessage: (message: A) => Effect.Effect<void>
): Effect.Effect<never, ConnectionEnd> =>
  connection.messages.takeAll.pipe(
    Effect.flatMap(([messages]) => Effect.forEach(messages, onMessage, { discard: true })),
    Effect.forever
  )
