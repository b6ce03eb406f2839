// Progress of unfinished backfills, per (peer, resource), so a restart resumes where it stopped and can show
// how far it is. A checkpoint is written after the page it describes is committed, like the watermark.
import { Context, type Effect, type Option } from "effect"
import type { StoreError } from "../domain/Errors.js"
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
  }
>() {}
