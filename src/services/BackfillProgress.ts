// How far the backfills of this process are, for an app to watch: per (peer, kind) the rows applied, the rows
// expected in all, the rate, the time left, and whether the stream has caught up. A pull stream updates it
// right after a page's progress record commits, so it never shows more than sync.db holds. Rate and time
// left are measured with Effect's Clock (`estimate`, shared with the log line and the sync.db checkpoints).
// Keeps: an update never fails and never waits on a subscriber.
import { Context, Effect, Layer, PubSub, Stream } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"

/** How far the backfill of one kind from one peer is. */
export interface Backfill {
  readonly peer: DeviceId
  readonly resource: ResourceType
  /** Rows applied so far (a resumed backfill counts what it applied before the restart). */
  readonly done: number
  /** Rows expected in all: what is done plus what the peer said remained, at least the exchange's count. */
  readonly total: number
  /** Rows per second since the stream's first page in this process (0 while unknown). */
  readonly rate: number
  /** Seconds left at that rate (null while unknown). */
  readonly etaSeconds: number | null
  /** The stream has pulled everything the peer had: it now carries new rows live (or, a transfer, ended). */
  readonly caughtUp: boolean
  /** When this entry was last updated (Clock milliseconds). */
  readonly updatedAt: number
}

/** Rows per second from (`startedAt`, `startedDone`) to (`now`, `done`), and the seconds left at that rate. */
export const estimate = (
  progress: {
    readonly done: number
    readonly total: number
    readonly startedAt: number
    readonly startedDone: number
  },
  now: number
): { readonly rate: number; readonly secondsLeft: number | null } => {
  const seconds = (now - progress.startedAt) / 1000
  const rate = seconds > 0 ? (progress.done - progress.startedDone) / seconds : 0
  return { rate, secondsLeft: rate > 0 ? Math.max(0, progress.total - progress.done) / rate : null }
}

export class BackfillProgress extends Context.Tag("tidemark/BackfillProgress")<
  BackfillProgress,
  {
    /** The backfills of this process now, by peer and kind. */
    readonly get: Effect.Effect<ReadonlyArray<Backfill>>
    /** The backfills now, then again after every update. */
    readonly changes: Stream.Stream<ReadonlyArray<Backfill>>
    /** Record where the stream of (`peer`, `resource`) stands (called by the pull stream). */
    readonly update: (backfill: Backfill) => Effect.Effect<void>
  }
>() {}

const key = (b: Backfill) => `${b.peer}\u0000${b.resource}`
/** Order by peer, then kind. */
export const byPeerAndKind = (
  a: { readonly peer: DeviceId; readonly resource: ResourceType },
  b: { readonly peer: DeviceId; readonly resource: ResourceType }
) =>
  a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0

export const make = Effect.gen(function* () {
  const published = yield* PubSub.unbounded<ReadonlyArray<Backfill>>()
  let all: ReadonlyArray<Backfill> = []
  /** Subscribers of `changes` now: with none (most of the time), an update publishes nothing. */
  let watchers = 0
  return BackfillProgress.of({
    get: Effect.sync(() => all),
    // Subscribed before the value now is read: an update in between is in both (seen twice, never missed).
    changes: Stream.unwrapScoped(
      Effect.gen(function* () {
        const queue = yield* PubSub.subscribe(published)
        yield* Effect.acquireRelease(
          Effect.sync(() => void watchers++),
          () => Effect.sync(() => void watchers--)
        )
        return Stream.concat(Stream.succeed(all), Stream.fromQueue(queue))
      })
    ),
    // A plain update, not a SubscriptionRef's (a lock and a publish each time): a pull stream makes one per page.
    update: (backfill) =>
      Effect.suspend(() => {
        all = [...all.filter((b) => key(b) !== key(backfill)), backfill].sort(byPeerAndKind)
        return watchers === 0 ? Effect.void : Effect.asVoid(PubSub.publish(published, all))
      })
  })
})

/** In memory: what a running process knows of its own streams (sync.db keeps what survives a restart). */
export const layerMemory: Layer.Layer<BackfillProgress> = Layer.effect(BackfillProgress, make)
