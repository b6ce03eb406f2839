// The HLC-stamped log of shared-resource changes (sync.db). It is the write-ahead log of shared writes: an
// entry is appended and committed before its row is applied to database.db, and entries not yet marked
// applied are re-applied on start, so a shared change is never in database.db alone. Peers pull it by seq
// and acknowledge; entries every member device acknowledged are pruned.
import type { Openings } from "./Openings.js"
import { Context, type Effect } from "effect"
import type { StoreError } from "../domain/Errors.js"
import type { DeviceId } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"
import type { Row } from "../domain/Row.js"

export interface LogEntry {
  readonly seq: number
  readonly resource: ResourceType
  /** The change itself: the whole row as it was written (its version is the change's HLC). */
  readonly row: Row
}

export interface LogBounds {
  /** Lowest seq still held (entries below were pruned); 0 when the log is empty. */
  readonly first: number
  /** Highest seq ever appended; 0 when nothing was. */
  readonly last: number
  readonly count: number
  /** Highest seq ever pruned: a reader whose cursor is below it has missed entries. */
  readonly prunedThrough: number
}

/**
 * The applied end of a log (SharedLog.appliedThrough) from its bounds, read first, and the seq of its first
 * entry not yet marked applied (null when there is none), read after them: every entry up to `bounds.last` was
 * committed by then, so each below that first unapplied one is applied. Never below `prunedThrough`: a
 * follower could not read the log from there, and an entry left unapplied by a failed apply (until `recover`
 * on the next start) would otherwise send every state transfer from below the pruned range, again and again.
 */
export const appliedEnd = (bounds: LogBounds, firstUnapplied: number | null): number =>
  Math.max(
    bounds.prunedThrough,
    firstUnapplied === null ? bounds.last : Math.min(bounds.last, firstUnapplied - 1)
  )

/** Entries of one resource kind after a cursor, and the cursor to continue from. */
export interface ResourcePage {
  readonly entries: ReadonlyArray<LogEntry>
  /** Every entry of this kind with seq <= through was returned (or was before the cursor). */
  readonly through: number
}

export class SharedLog extends Context.Tag("tidemark/SharedLog")<
  SharedLog,
  {
    /** Append and commit; returns the seqs assigned, in order. */
    readonly append: (
      entries: ReadonlyArray<{ readonly resource: ResourceType; readonly row: Row }>
    ) => Effect.Effect<ReadonlyArray<number>, StoreError>
    /** Record that these entries are in database.db. */
    readonly markApplied: (seqs: ReadonlyArray<number>) => Effect.Effect<void, StoreError>
    /** Entries appended but not yet marked applied (to re-apply on start), in seq order. */
    readonly unapplied: (limit: number) => Effect.Effect<ReadonlyArray<LogEntry>, StoreError>
    readonly readAfter: (after: number, limit: number) => Effect.Effect<ReadonlyArray<LogEntry>, StoreError>
    /** Up to `limit` entries of one kind after `after`; `through` may pass entries of other kinds. */
    readonly readResource: (
      resource: ResourceType,
      after: number,
      limit: number
    ) => Effect.Effect<ResourcePage, StoreError>
    readonly bounds: Effect.Effect<LogBounds, StoreError>
    /**
     * The highest seq at or below which every entry is applied to database.db (`appliedEnd`): where a state
     * transfer may start following the log. An entry is appended and committed before its row is applied, so
     * `bounds.last` may count entries whose rows a reader of the table does not see yet.
     */
    readonly appliedThrough: Effect.Effect<number, StoreError>
    /**
     * The seq of the first entry appended since the log was opened (undefined until one is): every seq from
     * it on is new since. Absent where other processes append too (a hub's).
     */
    readonly firstSeqSinceOpen?: () => number | undefined
    /**
     * The openings of the log's seq counter, kept in this file (services/Openings.ts). Absent where other
     * processes serve the log too (a hub's), and for a log in memory.
     */
    readonly openings?: Openings
    /** How many entries of one kind have seq > after. */
    readonly countAfter: (resource: ResourceType, after: number) => Effect.Effect<number, StoreError>
    /** A peer holds everything up to `seq`. Acks only move forward. */
    readonly ack: (peer: DeviceId, seq: number) => Effect.Effect<void, StoreError>
    readonly acks: Effect.Effect<ReadonlyMap<DeviceId, number>, StoreError>
    /**
     * Drop entries every one of `members` acknowledged (a member that never acked pins the log), and, when
     * `retainAtMost` is given, the oldest entries beyond that many: a device that falls behind the pruned
     * range must then re-transfer state instead of pinning the log forever. Returns entries removed.
     */
    readonly prune: (
      members: ReadonlyArray<DeviceId>,
      retainAtMost?: number
    ) => Effect.Effect<number, StoreError>
  }
>() {}
