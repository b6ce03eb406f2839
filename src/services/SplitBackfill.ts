// One peer's part of a kind's backfill split over several peers (BackfillCoordinator): pull the uuid ranges
// the coordinator hands this peer, page by page (PullRange, one page fetched ahead of the one applied), until
// every range of the split is done. Keeps: a page is checked whole and applied in one transaction; only then
// does its range's checkpoint (the last uuid applied) advance in sync.db, in the transaction that records the
// page's counters; so a crash anywhere pulls at most one page of each range again, and a range another peer
// takes over continues from that checkpoint. No watermark moves here: each stream reconciles with its own
// peer once the split is done (PullStream.runOwned), which is what makes that peer's watermark true.
import { Effect, Option, Stream } from "effect"
import * as Fingerprint from "../domain/Fingerprint.js"
import { PullRange } from "../domain/Protocol.js"
import type { ResourceType } from "../domain/Resource.js"
import { approximateSize } from "../domain/Row.js"
import { BackfillCoordinator } from "./BackfillCoordinator.js"
import { CheckpointStore, type RangeCheckpoint } from "./CheckpointStore.js"
import { Kinds } from "./Kinds.js"
import { Library } from "./Library.js"
import { LibraryStore } from "./LibraryStore.js"
import { checkPage } from "./PageCheck.js"
import type { PeerConnection } from "./PeerTransport.js"
import { ProgressRecord } from "./ProgressRecord.js"
import { SyncMetrics } from "./SyncMetrics.js"

/** The pages of one range from its cursor on, as a Stream that fetches one page ahead (a hand-off buffer). */
const rangePages = (conn: PeerConnection, resource: ResourceType, range: RangeCheckpoint, limit: number) =>
  Stream.paginateEffect(range.cursor, (afterUuid) =>
    Effect.map(
      conn.send(new PullRange({ resource, range: { lo: range.lo, hi: range.hi }, afterUuid, limit })),
      (page) => {
        const last = page.rows.at(-1)?.uuid
        const more = !page.done && last !== undefined && last > afterUuid
        return [page, more ? Option.some(last) : Option.none()] as const
      }
    )
  ).pipe(Stream.buffer({ capacity: 0 }))

/**
 * Pull ranges of the kind's split from this peer until every range is done (by this peer or others), then
 * end the split: build the uuid index of a bulk load, forget the ranges, let waiting streams go on. `onPage`
 * hears of each page applied (rows, and this stream's rows so far), for progress.
 */
export const pullRanges = <R>(
  conn: PeerConnection,
  resource: ResourceType,
  batchSize: number,
  /** The peer's table end read before this stream began (its session's exchange), if known. */
  since: number | undefined,
  onPage: (rows: number, done: number) => Effect.Effect<void, never, R>
) =>
  Effect.gen(function* () {
    const coordinator = yield* BackfillCoordinator
    const store = yield* LibraryStore
    const library = yield* Library
    const metrics = yield* SyncMetrics
    const record = yield* ProgressRecord
    const ranges = (yield* CheckpointStore).ranges
    if (ranges === undefined) return
    const contents = Fingerprint.contents((yield* Kinds).kind(resource).columns)
    // The split's pages are a bulk load when the table was empty (or a load of it was left unfinished): every
    // stream of the split inserts plainly while the uuid index is dropped, however many of them there are and
    // whichever began it; ending the load resolves any uuid stored twice as upserts would have.
    if (store.bulk !== undefined) yield* store.bulk.begin(resource)
    let done = 0
    for (;;) {
      const claimed = yield* coordinator.claim(
        resource,
        conn.peer,
        since === undefined ? undefined : { since, session: conn }
      )
      if (Option.isNone(claimed)) break
      let range = claimed.value
      yield* Effect.logDebug(
        `Pulling ${resource} [${range.lo}, ${range.hi}) from ${conn.peer} after "${range.cursor}"`
      )
      yield* Stream.runForEach(rangePages(conn, resource, range, batchSize), (page) =>
        Effect.gen(function* () {
          const rows = yield* checkPage(conn, resource, page.rows, batchSize)
          yield* library.applyRemote(resource, rows, { bulk: true })
          const last = rows.at(-1)?.uuid ?? range.cursor
          const received = Fingerprint.accumulator()
          for (const row of rows) received.addRow(row, contents)
          range = {
            ...range,
            cursor: last > range.cursor ? last : range.cursor,
            done: page.done || rows.length === 0,
            recordsDone: range.recordsDone + rows.length,
            received: Fingerprint.plus(range.received, received.result())
          }
          const moved = range
          yield* record.together(
            Effect.zipRight(
              ranges.save(resource, moved),
              metrics.received(conn.peer, rows.length, approximateSize(rows))
            )
          )
          yield* coordinator.advance(resource, moved)
          done += rows.length
          yield* onPage(rows.length, done)
        })
      )
      // A page that ended the stream without saying done (no rows past the cursor) ends the range too.
      if (!range.done) {
        range = { ...range, done: true }
        yield* ranges.save(resource, range)
        yield* coordinator.advance(resource, range)
      }
    }
    // Every range is done: whoever sees it first ends the split (each step is harmless when repeated).
    if (store.bulk !== undefined) yield* store.bulk.end(resource)
    yield* ranges.clear(resource)
    yield* coordinator.finish(resource)
    yield* Effect.logInfo(`Backfilled ${resource} by uuid ranges (${done} rows from ${conn.peer})`)
  })
