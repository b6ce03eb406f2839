// Progress of unfinished backfills, per (peer, resource), so a restart resumes where it stopped and can show
// how far it is. A checkpoint is written after the page it describes is committed, like the watermark.
import { Context, type Effect, type Option } from "effect"
import type { StoreError } from "../domain/Errors.js"
import type { Fingerprint } from "../domain/Fingerprint.js"
import type { DeviceId } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"

/** The progress of an unfinished backfill of one kind from one peer. */
export interface Checkpoint {
  readonly peer: DeviceId
  readonly resource: ResourceType
  /** The peer's seq of the last row applied. */
  readonly cursor: number
  readonly recordsDone: number
  readonly totalExpected: number
  /** For a state transfer of a shared kind: the peer's shared-log seq to continue from once it is done. */
  readonly logStart: number
  /** When this backfill began and how many records it had then: the base of its rate and ETA. */
  readonly startedAt: number
  readonly startedDone: number
  readonly updatedAt: number
}

/** What a page moves forward in a checkpoint. */
export type CheckpointProgress = Pick<Checkpoint, "cursor" | "recordsDone" | "totalExpected" | "logStart">

/**
 * One uuid range of a kind's backfill split over several peers (BackfillCoordinator): `[lo, hi)`, pulled in
 * uuid order up to `cursor` (the last uuid applied, "" before the first page) by whichever peer holds it now.
 * It belongs to the kind, not to a peer, so a peer that drops out hands it on from `cursor`. `received` is
 * the fingerprint of the rows received for it (each counted once: it is saved with the cursor), which a
 * stream compares with its own peer's once the split is done, instead of scanning the table (Reconcile.ts).
 */
export interface RangeCheckpoint {
  readonly lo: string
  readonly hi: string
  readonly cursor: string
  readonly done: boolean
  readonly recordsDone: number
  readonly received: Fingerprint
}

/** The ranges of split backfills, per kind. A range's progress is saved with its page's progress record. */
export interface RangeCheckpoints {
  /** The ranges of the kind's split backfill, in uuid order (none: no split is under way). */
  readonly list: (resource: ResourceType) => Effect.Effect<ReadonlyArray<RangeCheckpoint>, StoreError>
  /** Record a new split's ranges, all at once; ranges already recorded (by `lo`) are kept as they are. */
  readonly plan: (
    resource: ResourceType,
    ranges: ReadonlyArray<RangeCheckpoint>
  ) => Effect.Effect<void, StoreError>
  /** Record how far one range is (by its `lo`). */
  readonly save: (resource: ResourceType, range: RangeCheckpoint) => Effect.Effect<void, StoreError>
  /** The split is over: forget its ranges. */
  readonly clear: (resource: ResourceType) => Effect.Effect<void, StoreError>
}

/** Backfill checkpoints per (peer, kind). Replace it with `overrides.checkpoints`. */
export class CheckpointStore extends Context.Tag("tidemark/CheckpointStore")<
  CheckpointStore,
  {
    readonly get: (
      peer: DeviceId,
      resource: ResourceType
    ) => Effect.Effect<Option.Option<Checkpoint>, StoreError>
    /**
     * Record progress at the Clock's time. A save of a backfill already checkpointed keeps its `startedAt`
     * and `startedDone`; the first one (or the first after `clear`) starts them.
     */
    readonly save: (
      peer: DeviceId,
      resource: ResourceType,
      progress: CheckpointProgress
    ) => Effect.Effect<void, StoreError>
    /** The backfill finished: forget its checkpoint. */
    readonly clear: (peer: DeviceId, resource: ResourceType) => Effect.Effect<void, StoreError>
    /** Every checkpoint held, in (peer, resource) order. */
    readonly list: Effect.Effect<ReadonlyArray<Checkpoint>, StoreError>
    /**
     * The ranges of split backfills. A store without them (an application's own, a hub's) never splits a
     * kind's backfill over several peers: one peer backfills it and the others reconcile.
     */
    readonly ranges?: RangeCheckpoints
  }
>() {}
