// The TCP transport between two in-process devices over 127.0.0.1: authentication both ways before anything is
// served, frame limits and garbage closing only the offending connection, and lost peers failing fast.
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Logger, Schedule, Scope, type Request } from "effect"
import * as Net from "node:net"
import * as Tls from "node:tls"
import { randomToken } from "../src/domain/Auth.js"
import { LibraryId } from "../src/domain/Ids.js"
import {
  Ack,
  Exchange,
  MAX_FRAME_BYTES,
  type PeerRequest,
  Ping,
  Pull,
  PROTOCOL_VERSION,
  RequestRefused
} from "../src/domain/Protocol.js"
import { Credentials } from "../src/services/Credentials.js"
import type { PeerHandler } from "../src/services/PeerTransport.js"
import * as TransportTcp from "../src/layers/TransportTcp.js"
import { makeFramedMsgPack } from "../src/layers/TcpFraming.js"
import { derivePsk, parseAddress } from "../src/layers/TcpTls.js"
import { deviceA, deviceB, libraryId } from "./support/fixtures.js"

const secret = randomToken()
const server: Credentials["Type"] = { libraryId, deviceId: deviceA, secret }
const client: Credentials["Type"] = { libraryId, deviceId: deviceB, secret }
const fast: TransportTcp.TransportTcpOptions = {
  connectTimeoutMillis: 2_000,
  handshakeTimeoutMillis: 2_000,
  requestTimeoutMillis: 2_000,
  heartbeatIntervalMillis: 100,
  heartbeatTimeoutMillis: 600
}

const transport = (credentials: Credentials["Type"], options: TransportTcp.TransportTcpOptions = fast) =>
  TransportTcp.make(options).pipe(Effect.provideService(Credentials, credentials))

/** A handler that answers from fixed values and records everything that reached it. */
const recordingHandler = (options?: { readonly pullDelayMillis?: number }) => {
  const calls: Array<string> = []
  const connected: Array<string> = []
  const disconnected: Array<string> = []
  const answer = (request: PeerRequest): Effect.Effect<unknown, RequestRefused> => {
    switch (request._tag) {
      case "Ping":
        return Effect.succeed({ wallMillis: 42 })
      case "Exchange":
        return Effect.succeed({
          deviceId: deviceA,
          storeId: "store-of-the-fake-peer",
          tables: request.holds,
          pending: [],
          log: { first: 0, last: 0 },
          wallMillis: 1
        })
      case "Pull":
        return Effect.as(Effect.sleep(options?.pullDelayMillis ?? 0), {
          resource: request.resource,
          rows: [],
          last: request.after,
          remaining: 0,
          caughtUp: true
        })
      default:
        return Effect.fail(new RequestRefused({ reason: `no ${request._tag} here` }))
    }
  }
  const handler: PeerHandler = {
    handle: <R extends PeerRequest>(peer: string, request: R) => {
      calls.push(`${peer} ${request._tag}`)
      // The test's own answers, shaped by the success schema of each request.
      return answer(request) as Effect.Effect<Request.Request.Success<R>, RequestRefused>
    },
    connected: (peer, address) => Effect.sync(() => void connected.push(`${peer} ${address}`)),
    disconnected: (peer, address) => Effect.sync(() => void disconnected.push(`${peer} ${address}`))
  }
  return { handler, calls, connected, disconnected }
}

/** Collects log messages of everything run inside `effect`, including fibers it forks. */
const withLogs = <A, E, R>(f: (logs: Array<string>) => Effect.Effect<A, E, R>) => {
  const logs: Array<string> = []
  const logger = Logger.make(({ message }) => {
    logs.push(Array.isArray(message) ? message.map(String).join(" ") : String(message))
  })
  return f(logs).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
}

const eventually = (check: () => boolean, what: string) =>
  Effect.suspend(() => (check() ? Effect.void : Effect.fail(what))).pipe(
    Effect.retry({ schedule: Schedule.spaced("10 millis"), times: 300 }),
    Effect.orDie
  )

const portOf = (address: string) => {
  const parsed = parseAddress(address)
  if (parsed._tag === "None") throw new Error(`bad address ${address}`)
  return parsed.value.port
}

/** A socket that speaks raw bytes to the server; resolves once connected (TLS with `psk`, plain TCP without). */
const rawSocket = (address: string, psk?: Buffer) =>
  Effect.acquireRelease(
    Effect.async<{ socket: Net.Socket; received: Array<Buffer>; closed: Deferred.Deferred<void> }>(
      (resume) => {
        const closed = Deferred.unsafeMake<void>(undefined as never)
        const received: Array<Buffer> = []
        const socket: Net.Socket =
          psk === undefined
            ? Net.connect({ host: "127.0.0.1", port: portOf(address) }, () => resume(Effect.succeed(opened)))
            : Tls.connect(
                {
                  host: "127.0.0.1",
                  port: portOf(address),
                  minVersion: "TLSv1.3",
                  ciphers: "TLS_AES_128_GCM_SHA256",
                  pskCallback: () => ({ psk, identity: "raw" }),
                  checkServerIdentity: () => undefined
                },
                () => resume(Effect.succeed(opened))
              )
        const opened = { socket, received, closed }
        socket.on("data", (chunk: Buffer) => void received.push(chunk))
        socket.on("error", () => {})
        socket.on("close", () => Deferred.unsafeDone(closed, Exit.void))
      }
    ),
    ({ socket }) => Effect.sync(() => socket.destroy())
  )

const awaitClosed = (closed: Deferred.Deferred<void>) =>
  Deferred.await(closed).pipe(
    Effect.timeoutFail({
      duration: "3 seconds",
      onTimeout: () => new Error("the server kept the connection open")
    })
  )

const frame = (message: unknown) => {
  const encoded = makeFramedMsgPack().unsafeMake().encode(message)
  if (encoded === undefined || typeof encoded === "string") throw new Error("no frame")
  return encoded
}

const decodeFrames = (received: ReadonlyArray<Buffer>): ReadonlyArray<unknown> =>
  makeFramedMsgPack().unsafeMake().decode(Buffer.concat(received))

const pull = (waitMillis = 0) => new Pull({ resource: "tag", after: 0, limit: 100, waitMillis })

describe("TransportTcp", () => {
  it.scopedLive("requests and answers cross an authenticated TLS connection", () =>
    withLogs(() =>
      Effect.gen(function* () {
        const recording = recordingHandler()
        const address = yield* (yield* transport(server)).listen("127.0.0.1:0", recording.handler)
        expect(address).toMatch(/^127\.0\.0\.1:\d+$/)
        expect(portOf(address)).toBeGreaterThan(0)

        const connectionScope = yield* Scope.make()
        const connection = yield* (yield* transport(client))
          .connect(address)
          .pipe(Scope.extend(connectionScope))
        expect(connection.peer).toBe(deviceA)
        expect(yield* connection.send(new Ping({}))).toEqual({ wallMillis: 42 })
        const holds = [{ resource: "tag" as const, seq: 7 }]
        expect((yield* connection.send(new Exchange({ holds, listen: null }))).tables).toEqual(holds)
        const [a, b] = yield* Effect.all([connection.send(pull()), connection.send(pull())], {
          concurrency: 2
        })
        expect(a.caughtUp && b.caughtUp).toBe(true)
        const refused = yield* Effect.flip(connection.send(new Ack({ seq: 1 })))
        expect(refused).toEqual(new RequestRefused({ reason: "no Ack here" }))
        expect(recording.connected).toHaveLength(1)
        expect(recording.connected[0]).toContain(deviceB)
        expect(recording.calls.every((c) => c.startsWith(deviceB))).toBe(true)

        yield* Scope.close(connectionScope, Exit.void)
        yield* eventually(() => recording.disconnected.length === 1, "the server saw the disconnect")
      })
    )
  )

  it.scopedLive("a device with the wrong secret is refused on both sides and nothing is served", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const recording = recordingHandler()
        const address = yield* (yield* transport(server)).listen("127.0.0.1:0", recording.handler)
        const intruder = yield* transport({ ...client, secret: randomToken() })
        const error = yield* Effect.flip(intruder.connect(address))
        expect(error._tag).toBe("AuthenticationFailed")
        expect(error.message).toContain("secret")
        yield* eventually(
          () =>
            logs.some((l) =>
              l.startsWith("refused a device that did not prove the library secret from 127.0.0.1:")
            ),
          "the server logged the refusal"
        )
        expect(recording.calls).toEqual([])
        expect(recording.connected).toEqual([])
      })
    )
  )

  it.scopedLive("a device of another library is refused", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const recording = recordingHandler()
        const address = yield* (yield* transport(server)).listen("127.0.0.1:0", recording.handler)
        const other = LibraryId.make("22222222-0000-4000-8000-000000000000")
        const error = yield* Effect.flip((yield* transport({ ...client, libraryId: other })).connect(address))
        expect(error._tag).toBe("AuthenticationFailed")
        expect(error.message).toContain("another library")
        expect(logs.some((l) => l.includes(`refused device ${deviceB}`))).toBe(true)
        expect(recording.calls).toEqual([])
        expect(recording.connected).toEqual([])
      })
    )
  )

  it.scopedLive("a device that skips the handshake is refused and closed before anything is served", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const recording = recordingHandler()
        const address = yield* (yield* transport(server)).listen("127.0.0.1:0", recording.handler)
        const raw = yield* rawSocket(address, derivePsk(secret))
        raw.socket.write(
          frame({ _tag: "Request", id: "1", tag: "Ping", payload: { _tag: "Ping" }, headers: [] })
        )
        yield* awaitClosed(raw.closed)
        const [answer] = decodeFrames(raw.received)
        expect(answer).toMatchObject({
          _tag: "Exit",
          requestId: "1",
          exit: { _tag: "Failure", cause: { _tag: "Fail", error: { _tag: "RequestRefused" } } }
        })
        expect(
          logs.some((l) => l.startsWith("refused a device that did not prove the library secret from"))
        ).toBe(true)
        expect(recording.calls).toEqual([])
      })
    )
  )

  it.scopedLive("a device speaking another protocol version is refused", () =>
    Effect.gen(function* () {
      const recording = recordingHandler()
      const address = yield* (yield* transport(server)).listen("127.0.0.1:0", recording.handler)
      const raw = yield* rawSocket(address, derivePsk(secret))
      const hello = {
        protocolVersion: PROTOCOL_VERSION + 1,
        libraryId,
        deviceId: deviceB,
        nonce: randomToken()
      }
      raw.socket.write(frame({ _tag: "Request", id: "1", tag: "Hello", payload: hello, headers: [] }))
      yield* awaitClosed(raw.closed)
      expect(decodeFrames(raw.received)[0]).toMatchObject({
        _tag: "Exit",
        exit: { _tag: "Failure", cause: { error: { _tag: "RequestRefused" } } }
      })
      expect(recording.connected).toEqual([])
    })
  )

  it.scopedLive("garbage closes only its own connection; a concurrent connection keeps working", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const recording = recordingHandler()
        const address = yield* (yield* transport(server)).listen("127.0.0.1:0", recording.handler)
        const good = yield* (yield* transport(client)).connect(address)

        const plain = yield* rawSocket(address)
        plain.socket.write(Buffer.from("GET / HTTP/1.1\r\nHost: tidemark\r\n\r\n"))
        yield* awaitClosed(plain.closed)

        const tls = yield* rawSocket(address, derivePsk(secret))
        tls.socket.write(Buffer.from([0, 0, 0, 3, 0xc1, 0xc1, 0xc1]))
        yield* awaitClosed(tls.closed)
        yield* eventually(
          () => logs.some((l) => l.includes("violated the protocol")),
          "the violation was logged"
        )

        const notAMessage = yield* rawSocket(address, derivePsk(secret))
        notAMessage.socket.write(frame([1, 2, 3]))
        yield* awaitClosed(notAMessage.closed)

        expect(yield* good.send(new Ping({}))).toEqual({ wallMillis: 42 })
        expect(recording.calls).toEqual([`${deviceB} Ping`])
      })
    )
  )

  it.scopedLive(
    "a frame declaring more than MAX_FRAME_BYTES is refused on receipt; the server keeps serving",
    () =>
      withLogs((logs) =>
        Effect.gen(function* () {
          const recording = recordingHandler()
          const address = yield* (yield* transport(server)).listen("127.0.0.1:0", recording.handler)
          const good = yield* (yield* transport(client)).connect(address)

          const raw = yield* rawSocket(address, derivePsk(secret))
          const header = Buffer.alloc(4)
          header.writeUInt32BE(MAX_FRAME_BYTES + 1)
          raw.socket.write(Buffer.concat([header, Buffer.alloc(1024, 7)]))
          yield* awaitClosed(raw.closed)
          yield* eventually(
            () => logs.some((l) => l.includes("more than the limit")),
            "the oversized frame was logged"
          )

          expect(yield* good.send(new Ping({}))).toEqual({ wallMillis: 42 })
          const fresh = yield* (yield* transport(client)).connect(address)
          expect(yield* fresh.send(new Ping({}))).toEqual({ wallMillis: 42 })
        })
      )
  )

  it.scopedLive("when the server goes away, send fails with PeerUnavailable instead of hanging", () =>
    Effect.gen(function* () {
      const recording = recordingHandler({ pullDelayMillis: 60_000 })
      const serverScope = yield* Scope.make()
      const address = yield* (yield* transport(server))
        .listen("127.0.0.1:0", recording.handler)
        .pipe(Scope.extend(serverScope))
      const connection = yield* (yield* transport(client)).connect(address)
      const pending = yield* Effect.fork(connection.send(pull(30_000)))
      yield* eventually(() => recording.calls.length === 1, "the long poll reached the server")
      yield* Scope.close(serverScope, Exit.void)

      const lost = yield* Effect.flip(pending.await.pipe(Effect.flatten))
      expect(lost._tag).toBe("PeerUnavailable")
      expect((yield* Effect.flip(connection.send(new Ping({}))))._tag).toBe("PeerUnavailable")
      expect((yield* Effect.flip((yield* transport(client)).connect(address)))._tag).toBe("PeerUnavailable")
    }).pipe(Effect.timeout("5 seconds"))
  )

  it.scopedLive("a peer that goes silent without closing is declared unavailable by the heartbeat", () =>
    Effect.gen(function* () {
      const recording = recordingHandler({ pullDelayMillis: 60_000 })
      const address = yield* (yield* transport(server)).listen("127.0.0.1:0", recording.handler)
      const proxy = yield* freezableProxy(address)
      const slowRequests = yield* transport(client, { ...fast, requestTimeoutMillis: 30_000 })
      const connection = yield* slowRequests.connect(proxy.address)
      const started = Date.now()
      proxy.freeze()
      const lost = yield* Effect.flip(connection.send(pull(0)))
      expect(lost._tag).toBe("PeerUnavailable")
      expect(Date.now() - started).toBeLessThan(3_000)
    })
  )

  it.scopedLive("a long poll may take its waitMillis, but no answer at all times out", () =>
    Effect.gen(function* () {
      const slow = recordingHandler({ pullDelayMillis: 700 })
      const address = yield* (yield* transport(server)).listen("127.0.0.1:0", slow.handler)
      const connection = yield* (yield* transport(client, { ...fast, requestTimeoutMillis: 300 })).connect(
        address
      )
      expect((yield* connection.send(pull(600))).caughtUp).toBe(true)
      const late = yield* Effect.flip(connection.send(pull(0)))
      expect(late).toMatchObject({ _tag: "PeerUnavailable" })
      expect(late.message).toContain("no answer to Pull")
    })
  )

  it.scopedLive("connecting where nobody listens fails with PeerUnavailable", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const address = yield* (yield* transport(server))
        .listen("127.0.0.1:0", recordingHandler().handler)
        .pipe(Scope.extend(scope))
      yield* Scope.close(scope, Exit.void)
      const error = yield* Effect.flip((yield* transport(client)).connect(address))
      expect(error._tag).toBe("PeerUnavailable")
      expect((yield* Effect.flip((yield* transport(client)).connect("nowhere")))._tag).toBe("PeerUnavailable")
    })
  )
})

/** A TCP relay to `address` that can stop relaying without closing anything: a peer that went silent. */
const freezableProxy = (address: string) =>
  Effect.acquireRelease(
    Effect.async<{ address: string; freeze: () => void; close: () => void }>((resume) => {
      let frozen = false
      const sockets = new Set<Net.Socket>()
      const relay = Net.createServer((inbound) => {
        const outbound = Net.connect({ host: "127.0.0.1", port: portOf(address) })
        for (const s of [inbound, outbound]) {
          sockets.add(s)
          s.on("error", () => {})
        }
        inbound.on("data", (d) => void (frozen || outbound.write(d)))
        outbound.on("data", (d) => void (frozen || inbound.write(d)))
      })
      relay.listen(0, "127.0.0.1", () => {
        const bound = relay.address()
        const port = bound !== null && typeof bound === "object" ? bound.port : 0
        resume(
          Effect.succeed({
            address: `127.0.0.1:${port}`,
            freeze: () => void (frozen = true),
            close: () => {
              relay.close()
              for (const s of sockets) s.destroy()
            }
          })
        )
      })
    }),
    (proxy) => Effect.sync(() => proxy.close())
  )
