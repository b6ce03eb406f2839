// PeerTransport inside one process, for simulations: every message is encoded and decoded by its Schema as
// on the wire, and the network can drop, delay (and so reorder), duplicate messages, cut connections after N
// messages, and partition devices until healed. The handshake is the real one (domain/Auth.ts).
import { Context, Duration, Effect, type Exit, Fiber, Layer, ParseResult, Random, Schema } from "effect"
import * as Auth from "../domain/Auth.js"
import type { DeviceId, LibraryId } from "../domain/Ids.js"
import { PeerRequest, PROTOCOL_VERSION, RequestRefused } from "../domain/Protocol.js"
import { Credentials } from "../services/Credentials.js"
import {
  AuthenticationFailed,
  type PeerConnection,
  type PeerHandler,
  PeerTransport,
  PeerUnavailable
} from "../services/PeerTransport.js"

/** What the in-process network does wrong, on purpose: loss, duplication, delay, cut connections. */
export interface Faults {
  /** Probability that a request or a response is lost (the sender times out). */
  readonly dropRate: number
  /** Probability that a request is delivered twice. */
  readonly duplicateRate: number
  /** Each message waits a random 0..maxDelayMillis, so concurrent messages overtake each other. */
  readonly maxDelayMillis: number
  /** Cut every connection after this many messages (none when undefined). */
  readonly cutAfterMessages: number | undefined
  /** How long a sender waits for a lost message before giving up. */
  readonly timeoutMillis: number
}

export const noFaults: Faults = {
  dropRate: 0,
  duplicateRate: 0,
  maxDelayMillis: 0,
  cutAfterMessages: undefined,
  timeoutMillis: 100
}

export type Interceptor = (request: PeerRequest, from: DeviceId, to: DeviceId) => Effect.Effect<void>

interface Listener {
  readonly device: DeviceId
  readonly libraryId: LibraryId
  readonly secret: string
  readonly handler: PeerHandler
}

interface Link {
  readonly client: DeviceId
  readonly server: DeviceId
  broken: boolean
  /** The requests in flight on the link, each failed at once when it breaks. */
  readonly inFlight: Set<() => void>
}

/** Break a link: every request in flight on it fails, and every later one. */
const breakLink = (link: Link) =>
  Effect.sync(() => {
    if (link.broken) return
    link.broken = true
    for (const fail of [...link.inFlight]) fail()
  })

/** The simulated network all memory transports of a test share. */
export class MemoryNetwork extends Context.Tag("tidemark/MemoryNetwork")<
  MemoryNetwork,
  {
    readonly setFaults: (faults: Faults) => Effect.Effect<void>
    /** Devices in different groups cannot reach each other until `heal`; open connections across break. */
    readonly partition: (groups: ReadonlyArray<ReadonlyArray<string>>) => Effect.Effect<void>
    readonly heal: Effect.Effect<void>
    /** Break every open connection (as if every socket died at once). */
    readonly cutAll: Effect.Effect<void>
    /** Messages delivered so far (requests and responses). */
    readonly delivered: Effect.Effect<number>
    /**
     * Run `hook` before every request is delivered (after the handshake): a test's way to act at an exact
     * point of a conversation, e.g. partition the network when the fourth page is asked for.
     */
    readonly intercept: (hook: Interceptor) => Effect.Effect<void>
    /** The network's state, plain mutable fields: one process, and read by every message (no Ref's steps). */
    readonly internal: NetworkState
  }
>() {}

interface NetworkState {
  readonly listeners: Map<string, Listener>
  readonly links: Set<Link>
  faults: Faults
  groups: ReadonlyArray<ReadonlyArray<string>>
  /** Messages delivered so far. */
  count: number
  interceptor: Interceptor
}

/** A new simulated network. */
export const makeNetwork: Effect.Effect<MemoryNetwork["Type"]> = Effect.sync(() => {
  const internal: NetworkState = {
    listeners: new Map<string, Listener>(),
    links: new Set<Link>(),
    faults: noFaults,
    groups: [],
    count: 0,
    interceptor: () => Effect.void
  }
  // Suspended: `cutAll` is one value, which must see the links open when it runs, not when it was made.
  const breakWhere = (p: (l: Link) => boolean) =>
    Effect.suspend(() => Effect.forEach([...internal.links].filter(p), breakLink, { discard: true }))
  return MemoryNetwork.of({
    setFaults: (f) =>
      Effect.sync(() => {
        internal.faults = f
      }),
    partition: (groups) =>
      Effect.zipRight(
        Effect.sync(() => {
          internal.groups = groups
        }),
        breakWhere((l) => separated(groups, l.client, l.server))
      ),
    heal: Effect.sync(() => {
      internal.groups = []
    }),
    cutAll: breakWhere(() => true),
    delivered: Effect.sync(() => internal.count),
    intercept: (hook) =>
      Effect.sync(() => {
        internal.interceptor = hook
      }),
    internal
  })
})

export const layerNetwork: Layer.Layer<MemoryNetwork> = Layer.effect(MemoryNetwork, makeNetwork)

/** A request seen only through its Schemas (the union of request classes is too precise for the helpers). */
type WireRequest = Schema.WithResult<unknown, unknown, unknown, unknown, never> &
  Schema.Serializable<unknown, unknown, never>
const wire = (request: PeerRequest): WireRequest => request as unknown as WireRequest

const separated = (groups: ReadonlyArray<ReadonlyArray<string>>, a: DeviceId, b: DeviceId) => {
  const ga = groups.findIndex((g) => g.includes(a))
  const gb = groups.findIndex((g) => g.includes(b))
  return ga !== -1 && gb !== -1 && ga !== gb
}

export const layer: Layer.Layer<PeerTransport, never, MemoryNetwork | Credentials> = Layer.effect(
  PeerTransport,
  Effect.gen(function* () {
    const network = yield* MemoryNetwork
    const me = yield* Credentials
    const state = network.internal
    const { listeners, links } = state

    /** One message across the network: may be lost, delayed, or (for requests) delivered twice. */
    const deliver = <A, E>(
      address: string,
      link: Link | undefined,
      from: DeviceId,
      to: DeviceId,
      message: Effect.Effect<A, E>,
      isRequest: boolean
    ): Effect.Effect<A, E | PeerUnavailable> =>
      Effect.gen(function* () {
        const f = state.faults
        const unavailable = (reason: string) => new PeerUnavailable({ address, reason })
        if (separated(state.groups, from, to)) return yield* unavailable("network partitioned")
        const n = ++state.count
        if (link !== undefined && f.cutAfterMessages !== undefined && n % f.cutAfterMessages === 0) {
          yield* breakLink(link)
        }
        if (link !== undefined && link.broken) return yield* unavailable("connection cut")
        // Chance goes through Effect's Random, so a simulation with a seeded Random replays exactly.
        if (f.maxDelayMillis > 0)
          yield* Effect.sleep(Duration.millis((yield* Random.next) * f.maxDelayMillis))
        if ((yield* Random.next) < f.dropRate) {
          yield* Effect.sleep(Duration.millis(f.timeoutMillis))
          return yield* unavailable("timed out waiting for an answer")
        }
        if (isRequest && (yield* Random.next) < f.duplicateRate) yield* Effect.fork(message)
        return yield* message
      })

    const listen = (address: string, handler: PeerHandler) =>
      Effect.acquireRelease(
        Effect.suspend(() => {
          if (listeners.has(address)) {
            return Effect.fail(new PeerUnavailable({ address, reason: "address already in use" }))
          }
          listeners.set(address, { device: me.deviceId, libraryId: me.libraryId, secret: me.secret, handler })
          return Effect.succeed(address)
        }),
        () =>
          Effect.gen(function* () {
            listeners.delete(address)
            yield* Effect.forEach(
              [...links].filter((l) => l.server === me.deviceId),
              breakLink,
              { discard: true }
            )
          })
      )

    const connect = (address: string) =>
      Effect.gen(function* () {
        const server = listeners.get(address)
        if (server === undefined) return yield* new PeerUnavailable({ address, reason: "connection refused" })
        const refuse = (reason: string) =>
          Effect.zipRight(
            Effect.logWarning(
              `Refused a device that did not prove the library secret (${me.deviceId}): ${reason}`
            ),
            Effect.fail(new AuthenticationFailed({ address, reason }))
          )
        const clientNonce = Auth.randomToken()
        // Hello → HelloReply: the server checks library and protocol, answers with its proof.
        const reply = yield* deliver(
          address,
          undefined,
          me.deviceId,
          server.device,
          Effect.suspend(() => {
            if (server.libraryId !== me.libraryId) return refuse("the device belongs to another library")
            const serverNonce = Auth.randomToken()
            const transcript = {
              libraryId: me.libraryId,
              clientDevice: me.deviceId,
              serverDevice: server.device,
              clientNonce,
              serverNonce
            }
            return Effect.succeed({
              protocolVersion: PROTOCOL_VERSION,
              deviceId: server.device,
              nonce: serverNonce,
              proof: Auth.proof(server.secret, "server", transcript),
              transcript
            })
          }),
          true
        )
        if (!Auth.verify(me.secret, "server", reply.transcript, reply.proof)) {
          return yield* new AuthenticationFailed({
            address,
            reason: "the peer does not know the library secret"
          })
        }
        const clientProof = Auth.proof(me.secret, "client", reply.transcript)
        // Authenticate: the server checks the client's proof before it serves anything.
        yield* deliver(
          address,
          undefined,
          me.deviceId,
          server.device,
          Auth.verify(server.secret, "client", reply.transcript, clientProof)
            ? Effect.void
            : refuse("the device does not know the library secret"),
          true
        )
        const link: Link = {
          client: me.deviceId,
          server: server.device,
          broken: false,
          inFlight: new Set()
        }
        const clientAddress = `memory:${me.deviceId}`
        yield* Effect.acquireRelease(
          Effect.zipRight(
            Effect.sync(() => links.add(link)),
            server.handler.connected(me.deviceId, clientAddress)
          ),
          () =>
            Effect.zipRight(
              Effect.sync(() => links.delete(link)),
              server.handler.disconnected(me.deviceId, clientAddress)
            )
        )

        const send = <R extends PeerRequest>(request: R) => {
          const call = Effect.gen(function* () {
            yield* Effect.suspend(() => state.interceptor(request, me.deviceId, server.device))
            // Requests and answers cross the "wire" in their encoded form, decoded by their Schemas.
            const encoded = structuredClone(yield* Schema.serialize(wire(request)))
            const exit = yield* deliver(
              address,
              link,
              me.deviceId,
              server.device,
              Effect.gen(function* () {
                const decoded = yield* Schema.decodeUnknown(PeerRequest)(encoded)
                const result = yield* Effect.exit(server.handler.handle(me.deviceId, decoded))
                return structuredClone(
                  yield* Schema.serializeExit(wire(decoded), result as Exit.Exit<unknown, RequestRefused>)
                )
              }),
              true
            )
            const answer = yield* deliver(
              address,
              link,
              server.device,
              me.deviceId,
              Effect.succeed(exit),
              false
            )
            return yield* Effect.flatten(Schema.deserializeExit(wire(request), answer))
          }).pipe(
            Effect.catchIf(ParseResult.isParseError, (e) =>
              Effect.fail(new RequestRefused({ reason: `undecodable message: ${e.message}` }))
            )
          )
          // The request runs on a fiber of its own, which a break of the link interrupts: the request then
          // fails as lost. (One fiber, and no second one waiting for the break, as a race would take.)
          return Effect.flatMap(Effect.fork(call), (fiber) =>
            Effect.async<unknown, unknown>((resume) => {
              let pending = true
              const settle = (result: Effect.Effect<unknown, unknown>) => {
                if (!pending) return
                pending = false
                link.inFlight.delete(lost)
                resume(result)
              }
              const lost = () =>
                settle(
                  Effect.zipRight(
                    Fiber.interrupt(fiber),
                    // Made only when the link breaks: an error (its stack trace) for every request is costly.
                    Effect.failSync(() => new PeerUnavailable({ address, reason: "connection lost" }))
                  )
                )
              // On a link already broken the request fails by itself, as "connection cut".
              if (!link.broken) link.inFlight.add(lost)
              fiber.addObserver(settle)
              return Effect.suspend(() => {
                pending = false
                link.inFlight.delete(lost)
                return Fiber.interrupt(fiber)
              })
            })
          ) as Effect.Effect<never>
        }

        return { peer: server.device, address, send } as PeerConnection
      })

    return PeerTransport.of({ listen, connect })
  })
)
