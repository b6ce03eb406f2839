// What this device has durably pulled from each peer, per resource kind: the peer's own seq of the last row
// applied here. Keeps: a watermark only moves forward, and callers advance it only after the rows up to it
// are committed to database.db (docs/architecture.md, "Two stores").
import { Context, type Effect, type Option } from "effect"
import type { StoreError } from "../domain/Errors.js"
import type { DeviceId } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"

/** How far this device has pulled one kind from one peer: the peer's seq of the last row applied. */
export interface Watermark {
  readonly peer: DeviceId
  readonly resource: ResourceType
  readonly watermark: number
  readonly updatedAt: number
}

/** The cursors of this device per (peer, kind). Replace it with `overrides.watermarks`. */
export class WatermarkStore extends Context.Tag("tidemark/WatermarkStore")<
  WatermarkStore,
  {
    /** 0 when nothing was pulled yet. */
    readonly get: (peer: DeviceId, resource: ResourceType) => Effect.Effect<number, StoreError>
    /** Move forward to `to`; a lower value is ignored, so a late or repeated advance cannot move it back. */
    readonly advance: (peer: DeviceId, resource: ResourceType, to: number) => Effect.Effect<void, StoreError>
    /** Every watermark held, in (peer, resource) order. */
    readonly list: Effect.Effect<ReadonlyArray<Watermark>, StoreError>
    /** The id of the peer's database file our watermarks of it refer to (none before the first pull). */
    readonly peerStore: (peer: DeviceId) => Effect.Effect<Option.Option<string>, StoreError>
    /**
     * The peer's database file is now `storeId`. When it was another one, every watermark and checkpoint of
     * the peer is forgotten (the only way a watermark moves back): they pointed into a file that no longer
     * exists. Returns true when that happened.
     */
    readonly rebase: (peer: DeviceId, storeId: string) => Effect.Effect<boolean, StoreError>
    /**
     * Forget every watermark and checkpoint of the peer (its seqs went back: a restored backup). Its store id
     * is kept: the file is the same one, only older.
     */
    readonly forget: (peer: DeviceId) => Effect.Effect<void, StoreError>
    /**
     * The opening of the peer's stores this device last exchanged with (PeerState.opening), under which the
     * peer vouched for every watermark held of it; none before a session with a peer that keeps openings.
     * Optional: a store without it sends no opening, and the peer checks positions as an older client's.
     */
    readonly peerOpening?: (peer: DeviceId) => Effect.Effect<Option.Option<string>, StoreError>
    /**
     * Remember the peer's opening (none: forget it). Called once a session's exchange is settled, before
     * any watermark of that session advances.
     */
    readonly recordOpening?: (peer: DeviceId, opening: string | undefined) => Effect.Effect<void, StoreError>
    /**
     * The highest table end the peer showed this device beyond a position it then held (Page.end): the rows
     * held below the watermarks are those of a history of the peer's database that went at least that far.
     * 0 when none. Forgotten with the watermarks. Optional, with `peerOpening`: a store without it sends none.
     */
    readonly peerSeen?: (peer: DeviceId) => Effect.Effect<number, StoreError>
    /**
     * Raise what `peerSeen` returns to `end` (a lower value is ignored). Called in the transaction that
     * advances the watermark or checkpoint past the page that showed it.
     */
    readonly recordSeen?: (peer: DeviceId, end: number) => Effect.Effect<void, StoreError>
  }
>() {}
