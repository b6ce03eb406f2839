// In-memory measurements of a running device that are not counters (those are persisted by SyncMetrics): how
// long applying a page took, how many rows each stream still has to pull (lag), and how far each peer's wall
// clock is from ours. Optional: the engine records into it only when a layer provides it (the daemon does),
// so simulations behave exactly as without it. Keeps: recording never fails and never blocks sync.
import { Clock, Context, Duration, Effect, Layer, Option, Ref, Schedule } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import { Ping } from "../domain/Protocol.js"
import type { ResourceType } from "../domain/Resource.js"
import type { PeerConnection } from "./PeerTransport.js"

/** Upper bounds (milliseconds) of the page-apply latency histogram's buckets; +Inf is implied. */
export const APPLY_BUCKETS_MILLIS: ReadonlyArray<number> = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500]

export interface Histogram {
  /** Cumulative counts, one per bucket of APPLY_BUCKETS_MILLIS. */
  readonly buckets: ReadonlyArray<number>
  readonly count: number
  readonly sumMillis: number
}

export interface Snapshot {
  /** Rows the peer still had after our cursor when it answered the last page, per (peer, resource). */
  readonly lag: ReadonlyArray<{
    readonly peer: DeviceId
    readonly resource: ResourceType
    readonly rows: number
  }>
  /** Peer wall clock minus ours, estimated at the middle of a ping's round trip. */
  readonly clockDrift: ReadonlyArray<{
    readonly peer: DeviceId
    readonly driftMillis: number
    readonly roundTripMillis: number
  }>
  readonly applyLatency: Histogram
}

export class LiveMetrics extends Context.Tag("tidemark/LiveMetrics")<
  LiveMetrics,
  {
    readonly pageApplied: (
      peer: DeviceId,
      resource: ResourceType,
      sample: { readonly rows: number; readonly remaining: number; readonly millis: number }
    ) => Effect.Effect<void>
    readonly clockObserved: (
      peer: DeviceId,
      driftMillis: number,
      roundTripMillis: number
    ) => Effect.Effect<void>
    readonly snapshot: Effect.Effect<Snapshot>
  }
>() {}

interface State {
  readonly lag: ReadonlyMap<string, { peer: DeviceId; resource: ResourceType; rows: number }>
  readonly drift: ReadonlyMap<DeviceId, { peer: DeviceId; driftMillis: number; roundTripMillis: number }>
  readonly buckets: ReadonlyArray<number>
  readonly count: number
  readonly sumMillis: number
}

export const make = Effect.gen(function* () {
  const state = yield* Ref.make<State>({
    lag: new Map(),
    drift: new Map(),
    buckets: APPLY_BUCKETS_MILLIS.map(() => 0),
    count: 0,
    sumMillis: 0
  })
  return LiveMetrics.of({
    pageApplied: (peer, resource, { rows, remaining, millis }) =>
      Ref.update(state, (s) => ({
        ...s,
        lag: new Map(s.lag).set(`${peer}/${resource}`, { peer, resource, rows: remaining }),
        // Empty long-poll answers are not applies; counting them would drown the real latency.
        ...(rows === 0
          ? {}
          : {
              buckets: s.buckets.map((n, i) => (millis <= APPLY_BUCKETS_MILLIS[i]! ? n + 1 : n)),
              count: s.count + 1,
              sumMillis: s.sumMillis + millis
            })
      })),
    clockObserved: (peer, driftMillis, roundTripMillis) =>
      Ref.update(state, (s) => ({
        ...s,
        drift: new Map(s.drift).set(peer, { peer, driftMillis, roundTripMillis })
      })),
    snapshot: Effect.map(Ref.get(state), (s) => ({
      lag: [...s.lag.values()],
      clockDrift: [...s.drift.values()],
      applyLatency: { buckets: s.buckets, count: s.count, sumMillis: s.sumMillis }
    }))
  })
})

export const layer: Layer.Layer<LiveMetrics> = Layer.effect(LiveMetrics, make)

/** Time `effect` and report its duration in milliseconds to `f` (when LiveMetrics is provided). */
export const timed = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  f: (metrics: LiveMetrics["Type"], a: A, millis: number) => Effect.Effect<void>
): Effect.Effect<A, E, R> =>
  Effect.flatMap(Effect.serviceOption(LiveMetrics), (metrics) =>
    Option.match(metrics, {
      onNone: () => effect,
      onSome: (m) =>
        Effect.gen(function* () {
          const start = performance.now()
          const a = yield* effect
          yield* f(m, a, performance.now() - start)
          return a
        })
    })
  )

/**
 * While `conn` is open, ping the peer every `every` and record the clock drift its answer shows. Does
 * nothing when LiveMetrics is not provided; a failed ping is ignored (the session notices a lost peer).
 */
export const sampleClock = (conn: PeerConnection, every: Duration.DurationInput = "10 seconds") =>
  Effect.flatMap(Effect.serviceOption(LiveMetrics), (metrics) =>
    Option.match(metrics, {
      onNone: () => Effect.void,
      onSome: (m) =>
        Effect.gen(function* () {
          const sent = yield* Clock.currentTimeMillis
          const { wallMillis } = yield* conn.send(new Ping({}))
          const received = yield* Clock.currentTimeMillis
          yield* m.clockObserved(conn.peer, wallMillis - (sent + received) / 2, received - sent)
        }).pipe(Effect.ignore, Effect.repeat(Schedule.spaced(every)), Effect.asVoid)
    })
  )
