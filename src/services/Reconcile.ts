// Range-based set reconciliation with one peer for one kind: compare fingerprints of rows (uuid, version,
// contents) over uuid ranges, narrow down to the ranges that differ, pull only their rows. It makes starting a stream from a
// peer this device has never pulled from cheap when it already holds most of that peer's rows (another peer
// backfilled them), and it is what `verify` reports. Keeps: the peer's last seq is read before its
// fingerprints, so after reconciling, every row the peer held at that seq is here (at least as new), and its
// stream may continue from that seq without moving a cursor past data. `verify` narrows the same way and
// then looks at the rows of each differing range (RowDiff.ts).
import { Effect } from "effect"
import * as Fingerprint from "../domain/Fingerprint.js"
import { PullRange, type RequestRefused, Summarize } from "../domain/Protocol.js"
import type { ResourceType } from "../domain/Resource.js"
import type { Kinds } from "./Kinds.js"
import { Library } from "./Library.js"
import { LibraryStore } from "./LibraryStore.js"
import { checkPage } from "./PageCheck.js"
import type { PeerConnection, PeerUnavailable, ProtocolViolation } from "./PeerTransport.js"
import type { HlcClock } from "./HlcClock.js"
import type { StoreError } from "../domain/Errors.js"
import { SyncMetrics } from "./SyncMetrics.js"
import { approximateSize } from "../domain/Row.js"

/** Ranges per Summarize request (the protocol allows 256). */
const RANGES_PER_REQUEST = 128

export interface ReconcileResult {
  /** The peer's last seq of the kind when reconciliation began. */
  readonly lastSeq: number
  /** Rows pulled because their range differed. */
  readonly pulled: number
  /** Ranges found different (0 when the two sets were equal). */
  readonly differingRanges: number
  /** How many rows of the kind the peer holds (tombstones included). */
  readonly peerRows: number
  /** The first MAX_LISTED_RANGES of the differing ranges. */
  readonly ranges: ReadonlyArray<Fingerprint.UuidRange>
}

/** Differing ranges a result lists (all are counted). */
export const MAX_LISTED_RANGES = 100

type SendError = RequestRefused | PeerUnavailable | ProtocolViolation
/** What reconciling needs of the device. */
export type Deps = LibraryStore | Library | SyncMetrics | HlcClock | Kinds

/** Pull every row of `range` from the peer, page by page, and apply it. */
const pullRange = (
  conn: PeerConnection,
  resource: ResourceType,
  range: Fingerprint.UuidRange,
  limit: number
) =>
  Effect.gen(function* () {
    const library = yield* Library
    const metrics = yield* SyncMetrics
    let afterUuid = ""
    let pulled = 0
    for (;;) {
      const page = yield* conn.send(new PullRange({ resource, range, afterUuid, limit }))
      const rows = yield* checkPage(conn, resource, page.rows, limit)
      yield* library.applyRemote(resource, rows)
      yield* metrics.received(conn.peer, rows.length, approximateSize(rows))
      pulled += rows.length
      if (page.done || rows.length === 0) return pulled
      afterUuid = rows[rows.length - 1]!.uuid
    }
  })

/**
 * Ranges covering the whole uuid space, each with a fingerprint that stands for this device's rows in it:
 * equal to the peer's, the range holds every row the peer has there (a split backfill's ranges with the
 * fingerprint of what they received, SplitBackfill.ts: rows received were applied, so what is stored is
 * at least as new).
 */
export type KnownRanges = ReadonlyArray<{
  readonly range: Fingerprint.UuidRange
  readonly local: Fingerprint.Fingerprint
}>

/**
 * Narrow the differences with the peer down to ranges of at most `leafSize` of its rows (or ranges we hold
 * nothing of, or single uuids), and hand each such range to `onLeaf`, which returns how many rows it pulled.
 * From `known` ranges, their fingerprints are compared first, without reading the table.
 */
export const narrow = <R>(
  conn: PeerConnection,
  resource: ResourceType,
  leafSize: number,
  onLeaf: (range: Fingerprint.UuidRange) => Effect.Effect<number, SendError | StoreError, R>,
  known?: KnownRanges
) =>
  Effect.gen(function* () {
    const store = yield* LibraryStore
    const start = known ?? [{ range: Fingerprint.FULL_RANGE, local: undefined }]
    const first = yield* conn.send(new Summarize({ resource, ranges: start.map((s) => s.range) }))
    let pending: Array<{
      range: Fingerprint.UuidRange
      remote: Fingerprint.Fingerprint
      local?: Fingerprint.Fingerprint | undefined
    }> = start.map((s, i) => ({
      range: s.range,
      remote: first.fingerprints[i] ?? Fingerprint.empty,
      local: s.local
    }))
    let pulled = 0
    let differingRanges = 0
    const ranges: Array<Fingerprint.UuidRange> = []
    while (pending.length > 0) {
      const toSplit: Array<Fingerprint.UuidRange> = []
      for (const { range, remote, local: given } of pending) {
        const local = given ?? (yield* store.fingerprint(resource, range))
        if (Fingerprint.equals(local, remote)) continue
        // A known range is not a prefix range: its prefix parts are split further.
        const cover = given !== undefined ? Fingerprint.prefixCover(range) : [range]
        const parts = cover.length === 1 ? Fingerprint.split(cover[0]!) : cover
        if (remote.count <= leafSize || local.count === 0 || parts.length < 2) {
          differingRanges += 1
          if (ranges.length < MAX_LISTED_RANGES) ranges.push(range)
          pulled += yield* onLeaf(range)
        } else {
          toSplit.push(...parts)
        }
      }
      pending = []
      for (let i = 0; i < toSplit.length; i += RANGES_PER_REQUEST) {
        const ranges = toSplit.slice(i, i + RANGES_PER_REQUEST)
        const answer = yield* conn.send(new Summarize({ resource, ranges }))
        ranges.forEach((range, j) =>
          pending.push({ range, remote: answer.fingerprints[j] ?? Fingerprint.empty })
        )
      }
    }
    return {
      lastSeq: first.lastSeq,
      peerRows: first.fingerprints.reduce((n, f) => n + f.count, 0),
      pulled,
      differingRanges,
      ranges
    } satisfies ReconcileResult
  })

/** Pull what differs from the peer, so this device holds every row the peer held at `lastSeq`. */
export const reconcile = (
  conn: PeerConnection,
  resource: ResourceType,
  batchSize: number,
  known?: KnownRanges
) => narrow(conn, resource, batchSize, (range) => pullRange(conn, resource, range, batchSize), known)
