// The serving side of the TCP transport: a TLS 1.3 PSK listener (TcpTls) whose connections speak the @effect/rpc
// group of TcpRpcs. Invariant: a request reaches the PeerHandler only on a connection that completed the
// mutual proof of the library secret (Hello → HelloReply → Authenticate); anything else is answered with
// RequestRefused, logged, and the connection is closed. The handshake state lives in one record per
// connection, keyed by the rpc client id, and is checked before the rpc server ever sees a request.
import * as RpcServer from "@effect/rpc/RpcServer"
import type { FromClientEncoded, FromServerEncoded } from "@effect/rpc/RpcMessage"
import { Effect, Either, Exit, FiberSet, Mailbox, Schema, type Scope } from "effect"
import { ParseError } from "effect/ParseResult"
import type * as Net from "node:net"
import * as Tls from "node:tls"
import { proof, randomToken, type Transcript, verify } from "../domain/Auth.js"
import type { DeviceId } from "../domain/Ids.js"
import {
  Ack,
  Authenticate,
  Exchange,
  Hello,
  PROTOCOL_VERSION,
  Ping,
  Pull,
  PullLog,
  type PullRange,
  type PeerRequest,
  RequestRefused,
  requestClasses,
  type Summarize
} from "../domain/Protocol.js"
import type { Credentials } from "../services/Credentials.js"
import { type PeerHandler, PeerUnavailable, ProtocolViolation } from "../services/PeerTransport.js"
import * as TcpConnection from "./TcpConnection.js"
import { isFromClientEncoded, makeFramedMsgPack } from "./TcpFraming.js"
import { HANDSHAKE_TAGS, PeerRpcs } from "./TcpRpcs.js"
import { listenOn, parseAddress, remoteAddressOf, serverOptions } from "./TcpTls.js"

export interface ServerOptions {
  /** A connection that has not proven the library secret within this time is closed. */
  readonly handshakeTimeoutMillis: number
  /** A connection on which nothing was read or written for this long is closed (clients ping more often). */
  readonly idleTimeoutMillis: number
  readonly maxFrameBytes: number
}

type Phase =
  | { readonly _tag: "AwaitingHello" }
  | { readonly _tag: "AwaitingProof"; readonly transcript: Transcript }
  | { readonly _tag: "Authenticated"; readonly peer: DeviceId }
  | { readonly _tag: "Refused" }

interface Client {
  readonly id: number
  readonly address: string
  readonly connection: TcpConnection.FramedConnection<FromClientEncoded>
  phase: Phase
}

/** Payload decoders: a request whose payload does not decode is a protocol violation, not a bad request. */
const payloadDecoders: Record<string, (u: unknown) => Either.Either<unknown, ParseError>> = {
  Hello: Schema.decodeUnknownEither(Hello),
  Authenticate: Schema.decodeUnknownEither(Authenticate),
  ...Object.fromEntries(
    requestClasses.map((request) => [
      request._tag,
      Schema.decodeUnknownEither(request as unknown as Schema.Schema<unknown, unknown>)
    ])
  )
}

const encodeRefusal = Schema.encodeSync(
  Schema.Exit({ success: Schema.Void, failure: RequestRefused, defect: Schema.Defect })
)
const encodeDefect = Schema.encodeSync(Schema.Defect)

const NOT_PROVEN = "refused a device that did not prove the library secret from"

export const listen =
  (credentials: Credentials["Type"], options: ServerOptions) =>
  (address: string, handler: PeerHandler): Effect.Effect<string, PeerUnavailable, Scope.Scope> =>
    Effect.gen(function* () {
      const target = parseAddress(address)
      if (target._tag === "None") {
        return yield* new PeerUnavailable({ address, reason: "not a HOST:PORT address" })
      }
      const serialization = makeFramedMsgPack(options.maxFrameBytes)
      const clients = new Map<number, Client>()
      const disconnects = yield* Mailbox.make<number>()
      let nextClientId = 0
      let writeRequest: (clientId: number, message: FromClientEncoded) => Effect.Effect<void> = () =>
        Effect.void

      // ---- the connection record: what the handshake and the gate read and write -------------------------

      const refuseHandshake = (client: Client, deviceId: string, reason: string) =>
        Effect.zipRight(
          Effect.logWarning(`refused device ${deviceId} from ${client.address}: ${reason}`),
          Effect.suspend(() => {
            client.phase = { _tag: "Refused" }
            return Effect.fail(new RequestRefused({ reason }))
          })
        )

      /** Answer a request the connection may not send now, without running it, then close. */
      const refuseRequest = (client: Client, requestId: string, tag: string) => {
        const proving = client.phase._tag === "AwaitingHello" || client.phase._tag === "AwaitingProof"
        const reason =
          proving && !HANDSHAKE_TAGS.has(tag) ? "not authenticated" : `${tag} is not expected at this point`
        client.phase = { _tag: "Refused" }
        return Effect.zipRight(
          proving && !HANDSHAKE_TAGS.has(tag)
            ? Effect.logWarning(`${NOT_PROVEN} ${client.address}`)
            : Effect.logWarning(`refused an out-of-order ${tag} from ${client.address}`),
          client.connection
            .send({ _tag: "Exit", requestId, exit: encodeRefusal(Exit.fail(new RequestRefused({ reason }))) })
            .pipe(Effect.ignore, Effect.zipRight(client.connection.endGracefully))
        )
      }

      const mayRequest = (phase: Phase, tag: string): boolean => {
        switch (phase._tag) {
          case "AwaitingHello":
            return tag === "Hello"
          case "AwaitingProof":
            return tag === "Authenticate"
          case "Authenticated":
            return !HANDSHAKE_TAGS.has(tag)
          case "Refused":
            return false
        }
      }

      const onMessage = (client: Client, message: FromClientEncoded): Effect.Effect<void> => {
        switch (message._tag) {
          case "Request": {
            const decode = payloadDecoders[message.tag]
            if (decode === undefined) return violate(client, `unknown request ${message.tag}`)
            if (!mayRequest(client.phase, message.tag)) return refuseRequest(client, message.id, message.tag)
            const payload = decode(message.payload)
            if (Either.isLeft(payload)) {
              return violate(client, `an undecodable ${message.tag} request: ${payload.left.message}`)
            }
            return writeRequest(client.id, message)
          }
          case "Ping":
            return Effect.ignore(client.connection.send({ _tag: "Pong" }))
          default:
            return client.phase._tag === "Authenticated" ? writeRequest(client.id, message) : Effect.void
        }
      }

      const violate = (client: Client, reason: string) =>
        client.connection.destroy(new ProtocolViolation({ peer: client.address, reason }))

      // ---- the rpc server over these connections --------------------------------------------------------

      const protocol = yield* RpcServer.Protocol.make((write) => {
        writeRequest = write
        return Effect.succeed({
          disconnects,
          send: (clientId: number, response: FromServerEncoded) => {
            const client = clients.get(clientId)
            if (client === undefined) return Effect.void
            return client.connection.send(response).pipe(
              Effect.catchAll((error) =>
                response._tag === "Exit"
                  ? Effect.zipRight(
                      Effect.logError(`could not answer ${client.address}: ${error.reason}`),
                      Effect.ignore(
                        client.connection.send({
                          _tag: "Exit",
                          requestId: response.requestId,
                          exit: {
                            _tag: "Failure",
                            cause: { _tag: "Die", defect: encodeDefect(error.reason) }
                          }
                        })
                      )
                    )
                  : Effect.logError(`could not send to ${client.address}: ${error.reason}`)
              ),
              Effect.zipRight(
                client.phase._tag === "Refused" && response._tag === "Exit"
                  ? client.connection.endGracefully
                  : Effect.void
              )
            )
          },
          end: () => Effect.void,
          clientIds: Effect.sync(() => new Set(clients.keys())),
          initialMessage: Effect.succeedNone,
          supportsAck: false,
          supportsTransferables: false,
          supportsSpanPropagation: false
        })
      })

      const authenticatedPeer = (clientId: number) => {
        const phase = clients.get(clientId)?.phase
        return phase?._tag === "Authenticated"
          ? Effect.succeed(phase.peer)
          : Effect.fail(new RequestRefused({ reason: "not authenticated" }))
      }

      const serve =
        <R extends PeerRequest>() =>
        (request: R, { clientId }: { readonly clientId: number }) =>
          Effect.flatMap(authenticatedPeer(clientId), (peer) => handler.handle(peer, request)).pipe(
            Effect.catchAllDefect((defect) =>
              Effect.zipRight(
                Effect.logError(`the handler failed on ${request._tag}`, defect),
                Effect.fail(new RequestRefused({ reason: "internal failure" }))
              )
            )
          )

      const handlers = yield* PeerRpcs.toHandlersContext(
        PeerRpcs.of({
          Hello: (hello, { clientId }) =>
            Effect.suspend(() => {
              const client = clients.get(clientId)
              if (client === undefined) return Effect.fail(new RequestRefused({ reason: "not connected" }))
              if (hello.protocolVersion !== PROTOCOL_VERSION) {
                return refuseHandshake(
                  client,
                  hello.deviceId,
                  `it speaks protocol version ${hello.protocolVersion}, this device speaks ${PROTOCOL_VERSION}`
                )
              }
              if (hello.libraryId !== credentials.libraryId) {
                return refuseHandshake(
                  client,
                  hello.deviceId,
                  `it belongs to another library (${hello.libraryId})`
                )
              }
              if (hello.nonce.length < 32 || hello.nonce.length > 128) {
                return refuseHandshake(client, hello.deviceId, "its nonce is not a fresh 32-byte token")
              }
              const transcript: Transcript = {
                libraryId: credentials.libraryId,
                clientDevice: hello.deviceId,
                serverDevice: credentials.deviceId,
                clientNonce: hello.nonce,
                serverNonce: randomToken()
              }
              client.phase = { _tag: "AwaitingProof", transcript }
              return Effect.succeed({
                protocolVersion: PROTOCOL_VERSION,
                deviceId: credentials.deviceId,
                nonce: transcript.serverNonce,
                proof: proof(credentials.secret, "server", transcript)
              })
            }),
          Authenticate: (authenticate, { clientId }) =>
            Effect.suspend(() => {
              const client = clients.get(clientId)
              if (client === undefined || client.phase._tag !== "AwaitingProof") {
                return Effect.fail(
                  new RequestRefused({ reason: "Authenticate is not expected at this point" })
                )
              }
              const { transcript } = client.phase
              if (!verify(credentials.secret, "client", transcript, authenticate.proof)) {
                client.phase = { _tag: "Refused" }
                return Effect.zipRight(
                  Effect.logWarning(`${NOT_PROVEN} ${client.address}`),
                  Effect.fail(new RequestRefused({ reason: "the proof of the library secret is wrong" }))
                )
              }
              client.phase = { _tag: "Authenticated", peer: transcript.clientDevice }
              return handler.connected(transcript.clientDevice, client.address)
            }).pipe(Effect.uninterruptible),
          Exchange: serve<Exchange>(),
          Pull: serve<Pull>(),
          PullLog: serve<PullLog>(),
          Ack: serve<Ack>(),
          Ping: serve<Ping>(),
          Summarize: serve<Summarize>(),
          PullRange: serve<PullRange>()
        })
      )

      yield* RpcServer.make(PeerRpcs, { spanPrefix: "TransportTcp.serve" }).pipe(
        Effect.provideService(RpcServer.Protocol, protocol),
        Effect.provide(handlers),
        Effect.interruptible,
        Effect.forkScoped
      )

      // ---- one fiber per connection ---------------------------------------------------------------------

      const onSocket = (socket: Tls.TLSSocket) =>
        Effect.gen(function* () {
          const remote = remoteAddressOf(socket)
          const connection = yield* TcpConnection.make(socket, {
            address: remote,
            serialization,
            isMessage: isFromClientEncoded,
            idleTimeoutMillis: options.idleTimeoutMillis
          })
          const client: Client = {
            id: nextClientId++,
            address: remote,
            connection,
            phase: { _tag: "AwaitingHello" }
          }
          clients.set(client.id, client)
          yield* Effect.addFinalizer(() =>
            Effect.suspend(() => {
              clients.delete(client.id)
              disconnects.unsafeOffer(client.id)
              return client.phase._tag === "Authenticated"
                ? handler.disconnected(client.phase.peer, remote)
                : Effect.void
            })
          )
          yield* Effect.sleep(options.handshakeTimeoutMillis).pipe(
            Effect.zipRight(
              Effect.suspend(() =>
                client.phase._tag === "Authenticated"
                  ? Effect.void
                  : Effect.zipRight(
                      Effect.logWarning(
                        `${NOT_PROVEN} ${remote} (no proof within ${options.handshakeTimeoutMillis} ms)`
                      ),
                      connection.destroy(new TcpConnection.ConnectionLost({ reason: "handshake timeout" }))
                    )
              )
            ),
            Effect.forkScoped
          )
          const end = yield* Effect.flip(
            TcpConnection.consume(connection, (message) => onMessage(client, message))
          )
          if (end._tag === "ProtocolViolation") {
            yield* Effect.logWarning(`closed the connection from ${remote}: ${end.message}`)
          } else {
            yield* Effect.logDebug(`connection from ${remote} ended: ${end.reason}`)
          }
        }).pipe(Effect.scoped)

      const connections = yield* FiberSet.make()
      const runFork = yield* FiberSet.runtime(connections)()
      const server = Tls.createServer(serverOptions(credentials.secret, options.handshakeTimeoutMillis))
      // Every TCP socket, handshaken or not, so that closing the scope closes them all.
      const sockets = new Set<Net.Socket>()
      server.on("connection", (socket: Net.Socket) => {
        sockets.add(socket)
        socket.once("close", () => sockets.delete(socket))
      })
      server.on("secureConnection", (socket: Tls.TLSSocket) => {
        socket.on("error", () => {}) // handled by TcpConnection from here on; never let one go unhandled
        runFork(onSocket(socket))
      })
      server.on("tlsClientError", (error: Error & { code?: string }, socket: Tls.TLSSocket) => {
        runFork(
          Effect.logWarning(`${NOT_PROVEN} ${remoteAddressOf(socket)} (TLS: ${error.code ?? error.message})`)
        )
      })

      const bound = yield* Effect.acquireRelease(
        listenOn(server, target.value.host, target.value.port).pipe(
          Effect.mapError((code) => new PeerUnavailable({ address, reason: `cannot listen: ${code}` })),
          Effect.tap(() =>
            Effect.sync(() =>
              server.on("error", (error) => runFork(Effect.logError(`listener at ${address} failed`, error)))
            )
          )
        ),
        () =>
          Effect.async<void>((resume) => {
            server.close(() => resume(Effect.void))
            for (const socket of sockets) socket.destroy()
          })
      )
      yield* Effect.logDebug(`serving peers at ${bound}`)
      return bound
    }).pipe(Effect.annotateLogs({ module: "TransportTcp" }))
