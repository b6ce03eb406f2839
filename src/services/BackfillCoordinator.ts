// Spreads a new device's backfill over its peers. When a stream would pull a kind from zero, it first asks
// for the kind. After a settle time for peers to connect:
// - when the kind's table is empty here and two or more waiting peers hold enough of it, its uuid space is
//   split between them (`split`: ranges weighted by the rows each reported, recorded in sync.db before any is
//   pulled); each peer's stream pulls its ranges (SplitBackfill.ts), and a range whose peer drops out is
//   handed on from its checkpoint to a peer still connected. A split recorded before a restart goes on the
//   same way, with whichever peers are there, one of them enough: nothing starts from zero. A peer holding
//   none of the kind joins a split only when no peer with rows is left to work on it;
// - otherwise one peer at a time backfills the kind (each kind goes to the waiting peer that was handed the
//   fewest rows so far, counted from the exchange, so two peers split the work by kind; empty kinds weigh
//   nothing); the others wait.
// When the kind is done, every waiting stream goes on — by reconciling first (Reconcile.ts), which moves only
// what differs and sets its own peer's watermark only then. If the peer backfilling a whole kind disconnects,
// the kind passes to a waiting peer, which also reconciles first. Purely an optimisation of traffic: every
// stream still reconciles with its own peer and then runs, so no row can be missed by it.
import { Clock, Context, Deferred, Duration, Effect, Layer, Option, type Scope } from "effect"
import type { StoreError } from "../domain/Errors.js"
import { empty, FULL_RANGE } from "../domain/Fingerprint.js"
import type { DeviceId } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"
import type { RangeCheckpoint, RangeCheckpoints } from "./CheckpointStore.js"

/**
 * Where a peer's claims come from: its table's end read in the session's exchange (`since`), and the session
 * itself (any value that is the same object for as long as the connection lasts, and another one after).
 */
export interface ClaimSource {
  readonly since: number
  readonly session: unknown
}

/**
 * A range of a split that ended. `whole`: one peer pulled all of it, from its start, in one session of this
 * process, after `since` was read from it: every row that peer held at `since` in the range is here, without
 * comparing fingerprints — in that session only (a later one may be with the peer's files restored).
 */
export interface EndedRange extends RangeCheckpoint {
  readonly whole?: { readonly peer: DeviceId; readonly since: number; readonly session: unknown } | undefined
}

/** How a turn ended: pull the whole kind, pull ranges of a split, or the kind was done by others. */
export type Turn = "whole" | "split" | "done"

/** What a stream says of itself when it asks for a kind. */
export interface TurnRequest {
  /** Rows of the kind the peer reported pending (the exchange's count). */
  readonly rows?: number
  /**
   * The kind may be split over several peers: its table is empty here. At least `minRows` on one peer make
   * a split worth its cost; a split already recorded is joined whatever this says.
   */
  readonly split?: { readonly minRows: number }
}

export class BackfillCoordinator extends Context.Tag("tidemark/BackfillCoordinator")<
  BackfillCoordinator,
  {
    /**
     * Wait until this peer may pull `resource` from zero (`rows` of it pending there, a number for older
     * callers). The turn, and a split's claims, end with the scope, or with `finish`.
     */
    readonly turn: (
      resource: ResourceType,
      peer: DeviceId,
      request?: number | TurnRequest
    ) => Effect.Effect<Turn, StoreError, Scope.Scope>
    /**
     * The next range of the kind's split this peer should pull (its own first, then any whose peer dropped
     * out), held by it until the scope ends; waits while others' ranges are under way. None: every range is
     * done.
     */
    readonly claim: (
      resource: ResourceType,
      peer: DeviceId,
      source?: ClaimSource
    ) => Effect.Effect<Option.Option<RangeCheckpoint>, never, Scope.Scope>
    /** A claimed range moved on (its checkpoint is saved): whoever takes it next continues from here. */
    readonly advance: (resource: ResourceType, range: RangeCheckpoint) => Effect.Effect<void>
    /** The kind has been backfilled once: nobody needs to wait for it any more. */
    readonly finish: (resource: ResourceType) => Effect.Effect<void>
    /**
     * The ranges of the kind's split, once this process saw it end (with what each received): the streams
     * that reconcile afterwards compare them with their peer's. None: no split ended here.
     */
    readonly ended: (resource: ResourceType) => Option.Option<ReadonlyArray<EndedRange>>
  }
>() {}

/** Hash for a stable tie-break between peers (rendezvous hashing). */
const score = (resource: string, peer: string) => {
  let h = 0x811c9dc5
  for (const c of `${resource}/${peer}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0
  return h
}

/** Uuid prefixes of four hex digits: the split's boundaries fall on them. */
const PREFIX_SPACE = 0x10000

/**
 * Split the uuid space into contiguous ranges, one per weight, each about its weight's share of it (uuids
 * are random, so rows spread evenly over it).
 */
export const splitByWeight = (weights: ReadonlyArray<number>): ReadonlyArray<RangeCheckpoint> => {
  const total = weights.reduce((a, b) => a + b, 0)
  const ranges: Array<RangeCheckpoint> = []
  let lo = FULL_RANGE.lo
  let sum = 0
  weights.forEach((w, i) => {
    sum += w
    const last = i === weights.length - 1
    const at = Math.round((sum / total) * PREFIX_SPACE)
    const hi = last || at >= PREFIX_SPACE ? FULL_RANGE.hi : at.toString(16).padStart(4, "0")
    if (hi > lo) ranges.push({ lo, hi, cursor: "", done: false, recordsDone: 0, received: empty })
    lo = hi
  })
  return ranges
}

interface Claimable extends RangeCheckpoint {
  /** The peer the split gave it to (none for a split resumed after a restart). */
  assignee?: DeviceId
  /** The peer pulling it now. */
  holder?: DeviceId | undefined
  /** Claimed before (in this process): a later claim continues another's work. */
  claimed?: boolean
  whole?: EndedRange["whole"]
}

interface Split {
  readonly ranges: Array<Claimable>
  /** Peers whose streams work on the split now. */
  readonly workers: Set<DeviceId>
}

/**
 * A coordinator that decides a kind once `settleMillis` have passed since the first stream asked for it, or
 * as soon as `expectedPeers` streams wait for it (the peers configured), whichever comes first; with `store`,
 * it splits kinds by uuid range.
 */
export const make = (settleMillis: number, store?: RangeCheckpoints, expectedPeers = Infinity) =>
  Effect.gen(function* () {
    const owner = new Map<ResourceType, DeviceId>()
    const finished = new Set<ResourceType>()
    const waiting = new Map<ResourceType, Map<DeviceId, { rows: number; minRows?: number }>>()
    const splits = new Map<ResourceType, Split>()
    const endedSplits = new Map<ResourceType, ReadonlyArray<EndedRange>>()
    /** Kinds whose split is being decided (read or recorded in the store) by one waiting stream. */
    const deciding = new Set<ResourceType>()
    /** Kinds whose recorded split was looked for (once per kind: only this coordinator records one). */
    const looked = new Set<ResourceType>()
    /** Rows handed to each peer so far (finished kinds included). */
    const handed = new Map<DeviceId, number>()
    let changed = yield* Deferred.make<void>()
    let settleUntil: number | undefined
    const notify = Effect.suspend(() => {
      const done = changed
      return Effect.flatMap(Deferred.make<void>(), (fresh) => {
        changed = fresh
        return Deferred.succeed(done, undefined)
      })
    })
    const load = (peer: DeviceId) => handed.get(peer) ?? 0
    const awaitChange = Effect.suspend(() =>
      Effect.timeout(Deferred.await(changed), Duration.millis(Math.max(5, settleMillis))).pipe(Effect.ignore)
    )

    /**
     * A split of the kind, when there should be one: the one recorded (a restart), or a new one over the
     * waiting peers that hold enough of it, recorded before anyone pulls a range of it.
     */
    const decideSplit = (resource: ResourceType) =>
      Effect.gen(function* () {
        if (store === undefined || splits.has(resource) || deciding.has(resource)) return
        deciding.add(resource)
        const made = yield* Effect.gen(function* () {
          const recorded = looked.has(resource) ? [] : yield* store.list(resource)
          looked.add(resource)
          if (recorded.length > 0) {
            splits.set(resource, { ranges: recorded.map((r) => ({ ...r })), workers: new Set() })
            return true
          }
          const candidates = [...(waiting.get(resource)?.entries() ?? [])]
            .filter(([, w]) => w.minRows !== undefined && w.rows > 0)
            .sort(([a], [b]) => score(resource, b) - score(resource, a))
          if (candidates.length < 2 || !candidates.some(([, w]) => w.rows >= w.minRows!)) return false
          const planned = splitByWeight(candidates.map(([, w]) => w.rows))
          yield* store.plan(resource, planned)
          splits.set(resource, {
            ranges: planned.map((r, i) => ({ ...r, assignee: candidates[i]![0] })),
            workers: new Set()
          })
          yield* Effect.logInfo(
            `Splitting the backfill of ${resource} over ${candidates.length} peers by uuid range`
          )
          return true
        }).pipe(Effect.ensuring(Effect.sync(() => deciding.delete(resource))))
        if (made) yield* notify
      })

    /** Join the kind's split as one of its workers until the scope ends (its claims are released then). */
    const join = (peer: DeviceId, split: Split) =>
      Effect.gen(function* () {
        split.workers.add(peer)
        yield* Effect.addFinalizer(() =>
          Effect.suspend(() => {
            split.workers.delete(peer)
            for (const r of split.ranges) if (r.holder === peer) r.holder = undefined
            return notify
          })
        )
        return "split" as const
      })

    const turn = (resource: ResourceType, peer: DeviceId, request: number | TurnRequest = {}) =>
      Effect.gen(function* () {
        const { rows = 1, split: splittable } = typeof request === "number" ? { rows: request } : request
        const now = yield* Clock.currentTimeMillis
        settleUntil ??= now + settleMillis
        const peers = waiting.get(resource) ?? new Map<DeviceId, { rows: number; minRows?: number }>()
        waiting.set(
          resource,
          peers.set(peer, { rows, ...(splittable ? { minRows: splittable.minRows } : {}) })
        )
        yield* Effect.addFinalizer(() =>
          Effect.suspend(() => {
            waiting.get(resource)?.delete(peer)
            if (owner.get(resource) !== peer) return Effect.void
            owner.delete(resource)
            return notify
          })
        )
        for (;;) {
          if (finished.has(resource)) return "done" as const
          const settled =
            (yield* Clock.currentTimeMillis) >= settleUntil ||
            (waiting.get(resource)?.size ?? 0) + (splits.get(resource)?.workers.size ?? 0) >= expectedPeers
          if (settled && !owner.has(resource)) {
            if (splittable !== undefined || rows > 0) yield* decideSplit(resource)
            const split = splits.get(resource)
            // A peer that reported none of the kind has nothing to give a split: it waits for it to end while
            // a peer with rows works on it or waits to. With none left (they left, perhaps for good), it takes
            // the ranges itself: its pages come back empty and end them, and every stream's reconcile afterwards
            // brings what its own peer holds, so nobody waits on a split no connected peer can finish.
            if (split !== undefined) {
              const nobodyWithRows =
                split.workers.size === 0 &&
                [...(waiting.get(resource)?.values() ?? [])].every((w) => w.rows === 0)
              if (rows > 0 || nobodyWithRows) {
                waiting.get(resource)?.delete(peer)
                return yield* join(peer, split)
              }
            } else if (!deciding.has(resource)) {
              // The waiting peer handed the fewest rows so far takes it (stable tie-break).
              const chosen = [...(waiting.get(resource)?.keys() ?? [])].sort(
                (a, b) => load(a) - load(b) || score(resource, b) - score(resource, a)
              )[0]
              if (chosen === peer) {
                owner.set(resource, peer)
                handed.set(peer, load(peer) + rows)
                waiting.get(resource)?.delete(peer)
                return "whole" as const
              }
            }
          }
          yield* awaitChange
        }
      })

    const claim = (resource: ResourceType, peer: DeviceId, source?: ClaimSource) =>
      Effect.gen(function* () {
        for (;;) {
          const split = splits.get(resource)
          if (split === undefined || split.ranges.every((r) => r.done)) return Option.none()
          // Its own ranges first, then those no connected worker was given or still holds.
          const free = split.ranges.filter((r) => !r.done && r.holder === undefined)
          const next =
            free.find((r) => r.assignee === peer) ??
            free.find((r) => r.assignee === undefined || !split.workers.has(r.assignee))
          if (next !== undefined) {
            next.holder = peer
            // Pulled whole by one peer only if this first claim starts it and nobody else takes it over.
            next.whole =
              !next.claimed && next.cursor === "" && source !== undefined ? { peer, ...source } : undefined
            next.claimed = true
            yield* Effect.addFinalizer(() =>
              Effect.suspend(() => {
                if (next.holder !== peer) return Effect.void
                next.holder = undefined
                return notify
              })
            )
            const { assignee: _a, holder: _h, claimed: _c, whole: _w, ...range } = next
            return Option.some(range)
          }
          yield* awaitChange
        }
      })

    const advance = (resource: ResourceType, range: RangeCheckpoint) =>
      Effect.suspend(() => {
        const held = splits.get(resource)?.ranges.find((r) => r.lo === range.lo)
        if (held === undefined) return Effect.void
        Object.assign(held, {
          cursor: range.cursor,
          done: range.done,
          recordsDone: range.recordsDone,
          received: range.received
        })
        return range.done ? notify : Effect.void
      })

    const finish = (resource: ResourceType) =>
      Effect.suspend(() => {
        finished.add(resource)
        owner.delete(resource)
        const split = splits.get(resource)
        if (split !== undefined) {
          // A stream outside the split (one that resumed from a watermark) may catch up first: the split's own
          // streams end it once every range is done, and only then are its ranges forgotten in sync.db.
          if (!split.ranges.every((r) => r.done)) return notify
          endedSplits.set(
            resource,
            split.ranges.map(({ assignee: _a, holder: _h, claimed: _c, ...range }) => range)
          )
          splits.delete(resource)
        }
        return notify
      })

    const ended = (resource: ResourceType) => Option.fromNullable(endedSplits.get(resource))

    return BackfillCoordinator.of({ turn, claim, advance, finish, ended })
  })

export const layer = (settleMillis: number): Layer.Layer<BackfillCoordinator> =>
  Layer.effect(BackfillCoordinator, make(settleMillis))
