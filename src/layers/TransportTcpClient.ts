// The connecting side of the TCP transport: a TLS 1.3 PSK session (TcpTls), the mutual proof of the library
// secret, then an @effect/rpc client over the same connection. Invariant: `send` never waits forever and never
// succeeds on a connection that is gone; every request is bounded by a timeout that grows with its long-poll
// wait, the connection is pinged while it is open, and any loss of it fails all pending and later requests
// with PeerUnavailable (or with the ProtocolViolation that ended it). There is no reconnection here: a new
// connection needs a new handshake, so the caller connects again.
import * as RpcClient from "@effect/rpc/RpcClient"
import { RpcClientError } from "@effect/rpc/RpcClientError"
import type { FromServerEncoded } from "@effect/rpc/RpcMessage"
import { Clock, Effect, ExecutionStrategy, Exit, Schedule, Scope, type Request } from "effect"
import { proof, randomToken, type Transcript, verify } from "../domain/Auth.js"
import { PROTOCOL_VERSION, type PeerRequest, type RequestRefused } from "../domain/Protocol.js"
import type { Credentials } from "../services/Credentials.js"
import {
  AuthenticationFailed,
  type PeerConnection,
  PeerUnavailable,
  ProtocolViolation
} from "../services/PeerTransport.js"
import * as TcpConnection from "./TcpConnection.js"
import { isFromServerEncoded, makeFramedMsgPack } from "./TcpFraming.js"
import { PeerRpcs } from "./TcpRpcs.js"
import { connectTls } from "./TcpTls.js"

export interface ClientOptions {
  readonly connectTimeoutMillis: number
  readonly handshakeTimeoutMillis: number
  /** How long a request may take, on top of the `waitMillis` a long-poll asks the peer to hold it. */
  readonly requestTimeoutMillis: number
  /** A ping is sent this often while the connection is open. */
  readonly heartbeatIntervalMillis: number
  /** The connection is closed as dead when nothing at all arrived for this long. */
  readonly heartbeatTimeoutMillis: number
  readonly maxFrameBytes: number
}

type SendError = RequestRefused | PeerUnavailable | ProtocolViolation

export const connect =
  (credentials: Credentials["Type"], options: ClientOptions) =>
  (address: string): Effect.Effect<PeerConnection, PeerUnavailable | AuthenticationFailed, Scope.Scope> =>
    Effect.gen(function* () {
      // Everything of this connection lives in its own scope, closed at once if connecting fails, so failed
      // attempts leave no socket behind in the caller's scope.
      const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
      return yield* open(credentials, options, address).pipe(
        Scope.extend(scope),
        Effect.onExit((exit) => (Exit.isFailure(exit) ? Scope.close(scope, exit) : Effect.void))
      )
    }).pipe(Effect.annotateLogs({ module: "TransportTcp" }))

const open = (credentials: Credentials["Type"], options: ClientOptions, address: string) =>
  Effect.gen(function* () {
    const socket = yield* connectTls({
      address,
      secret: credentials.secret,
      identity: credentials.deviceId,
      timeoutMillis: options.connectTimeoutMillis
    })
    const connection = yield* TcpConnection.make(socket, {
      address,
      serialization: makeFramedMsgPack(options.maxFrameBytes),
      isMessage: isFromServerEncoded
    })

    let ended: TcpConnection.ConnectionEnd | undefined
    let lastReceived = yield* Clock.currentTimeMillis
    const endError = (): PeerUnavailable | ProtocolViolation =>
      ended?._tag === "ProtocolViolation"
        ? ended
        : new PeerUnavailable({ address, reason: ended?.reason ?? "the connection failed" })

    const protocol = yield* RpcClient.Protocol.make((writeResponse) =>
      Effect.gen(function* () {
        yield* TcpConnection.consume(connection, (message: FromServerEncoded) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            lastReceived = now
            return message._tag === "Pong" ? Effect.void : writeResponse(message)
          })
        ).pipe(
          Effect.catchAll((end) => {
            ended = end
            return Effect.zipRight(
              end._tag === "ProtocolViolation"
                ? Effect.logWarning(`closed the connection to ${address}: ${end.message}`)
                : Effect.logDebug(`connection to ${address} ended: ${end.reason}`),
              writeResponse({
                _tag: "ClientProtocolError",
                error: new RpcClientError({ reason: "Protocol", message: end.message })
              })
            )
          }),
          Effect.interruptible,
          Effect.forkScoped
        )
        return {
          send: (request) =>
            ended !== undefined
              ? Effect.fail(new RpcClientError({ reason: "Protocol", message: ended.message }))
              : Effect.mapError(
                  connection.send(request),
                  (error) => new RpcClientError({ reason: "Protocol", message: error.reason })
                ),
          supportsAck: false,
          supportsTransferables: false
        }
      })
    )
    const client = yield* RpcClient.make(PeerRpcs, { flatten: true, spanPrefix: "TransportTcp.send" }).pipe(
      Effect.provideService(RpcClient.Protocol, protocol)
    )

    // Heartbeat: a ping every interval; silence for longer than the timeout means the peer is gone.
    yield* Effect.gen(function* () {
      if (ended !== undefined) return
      const now = yield* Clock.currentTimeMillis
      if (now - lastReceived > options.heartbeatTimeoutMillis) {
        yield* Effect.logWarning(
          `no answer from ${address} for ${now - lastReceived} ms, closing the connection`
        )
        return yield* connection.destroy(
          new TcpConnection.ConnectionLost({ reason: `no answer for ${now - lastReceived} ms` })
        )
      }
      yield* Effect.ignore(connection.send({ _tag: "Ping" }))
    }).pipe(
      Effect.repeat(Schedule.spaced(options.heartbeatIntervalMillis)),
      Effect.interruptible,
      Effect.forkScoped
    )

    // ---- handshake ------------------------------------------------------------------------------------------
    const refused = (reason: string) => new AuthenticationFailed({ address, reason })
    const handshakeStep = <A, R>(
      step: string,
      call: Effect.Effect<A, RequestRefused | RpcClientError, R>
    ): Effect.Effect<A, AuthenticationFailed | PeerUnavailable, R> =>
      call.pipe(
        Effect.catchTags({
          RequestRefused: (error) => Effect.fail(refused(`the peer refused ${step}: ${error.reason}`)),
          RpcClientError: () => Effect.fail(new PeerUnavailable({ address, reason: endError().message }))
        }),
        Effect.catchAllDefect(() =>
          Effect.fail(refused(`the peer answered ${step} with something undecodable`))
        ),
        Effect.timeoutFail({
          duration: options.handshakeTimeoutMillis,
          onTimeout: () => new PeerUnavailable({ address, reason: `no answer to ${step} in time` })
        })
      )

    const clientNonce = randomToken()
    const reply = yield* handshakeStep(
      "Hello",
      client("Hello", {
        protocolVersion: PROTOCOL_VERSION,
        libraryId: credentials.libraryId,
        deviceId: credentials.deviceId,
        nonce: clientNonce
      })
    )
    if (reply.protocolVersion !== PROTOCOL_VERSION) {
      return yield* refused(
        `the peer speaks protocol version ${reply.protocolVersion}, not ${PROTOCOL_VERSION}`
      )
    }
    const transcript: Transcript = {
      libraryId: credentials.libraryId,
      clientDevice: credentials.deviceId,
      serverDevice: reply.deviceId,
      clientNonce,
      serverNonce: reply.nonce
    }
    if (!verify(credentials.secret, "server", transcript, reply.proof)) {
      return yield* refused("the peer did not prove it holds the library secret")
    }
    yield* handshakeStep(
      "Authenticate",
      client("Authenticate", { proof: proof(credentials.secret, "client", transcript) })
    )

    // ---- requests -------------------------------------------------------------------------------------------
    const call = (request: PeerRequest) => {
      switch (request._tag) {
        case "Exchange":
          return client("Exchange", request)
        case "Pull":
          return client("Pull", request)
        case "PullLog":
          return client("PullLog", request)
        case "Ack":
          return client("Ack", request)
        case "Ping":
          return client("Ping", request)
        case "Summarize":
          return client("Summarize", request)
        case "PullRange":
          return client("PullRange", request)
      }
    }

    const send = <R extends PeerRequest>(
      request: R
    ): Effect.Effect<Request.Request.Success<R>, SendError> => {
      const timeoutMillis = options.requestTimeoutMillis + ("waitMillis" in request ? request.waitMillis : 0)
      return (
        call(request) as Effect.Effect<Request.Request.Success<R>, RequestRefused | RpcClientError>
      ).pipe(
        // The cast above restates what the rpc client has just decoded with the success Schema of `request`.
        Effect.catchTag("RpcClientError", () => Effect.fail(endError())),
        Effect.catchAllDefect((defect) => {
          const violation = new ProtocolViolation({
            peer: address,
            reason: `the answer to ${request._tag} did not decode: ${String(defect).slice(0, 500)}`
          })
          return Effect.zipRight(
            Effect.zipRight(
              Effect.logWarning(`closed the connection to ${address}: ${violation.message}`),
              connection.destroy(violation)
            ),
            Effect.fail(violation)
          )
        }),
        Effect.timeoutFail({
          duration: timeoutMillis,
          onTimeout: () =>
            new PeerUnavailable({
              address,
              reason: `no answer to ${request._tag} within ${timeoutMillis} ms`
            })
        })
      )
    }

    return { peer: reply.deviceId, address, send } satisfies PeerConnection
  })
