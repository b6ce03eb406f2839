// One pull stream: the rows of one resource kind from one peer, from the saved watermark on, page by page.
// Backfill, catch-up and live sync are this same loop: pages until caught up (a round that fetches one
// ahead), then the same request with a wait, one at a time. Its consumer checks, applies and records
// each page. Keeps:
// a page is checked whole (schema, size, clock) before anything of it is applied; it is applied in one
// transaction; only then do the watermark and checkpoint advance to the page's last seq. So a cursor is
// never ahead of the data, and an interruption anywhere applies at most one page again (plus the one page
// that was prefetched and not yet applied, which is fetched again too).
import { Clock, Effect, Fiber, Option } from "effect"
import * as Fingerprint from "../domain/Fingerprint.js"
import { type LogPage, type Page, Exchange, Pull, PullLog, Ack } from "../domain/Protocol.js"
import { BackfillCoordinator, type EndedRange } from "./BackfillCoordinator.js"
import { BackfillProgress, estimate } from "./BackfillProgress.js"
import { LibraryStore } from "./LibraryStore.js"
import { checkPage } from "./PageCheck.js"
import { reconcile } from "./Reconcile.js"
import { pullRanges } from "./SplitBackfill.js"
import type { StoreError } from "../domain/Errors.js"
import type { ResourceType } from "../domain/Resource.js"
import { approximateSize, type Row } from "../domain/Row.js"
import { CheckpointStore } from "./CheckpointStore.js"
import { Kinds } from "./Kinds.js"
import { Library } from "./Library.js"
import { ProgressRecord } from "./ProgressRecord.js"
import { timed } from "./LiveMetrics.js"
import { type PeerConnection, ProtocolViolation } from "./PeerTransport.js"
import { SyncMetrics } from "./SyncMetrics.js"
import { WatermarkStore } from "./WatermarkStore.js"

export interface StreamOptions {
  /** Rows per page asked for. */
  readonly batchSize: number
  /** How long a caught-up pull waits on the peer for new rows before asking again. */
  readonly liveWaitMillis: number
  /** At most one "Backfilling …: N%" log line per stream this often (default 5 s). */
  readonly progressLogMillis?: number
  /**
   * Split a kind's backfill into an empty table over several peers by uuid range when one of them holds at
   * least this many rows of it; below, or when absent (the default), one peer backfills the whole kind. Off
   * by default because on the machines measured two peers took longer than one (docs/benchmarks.md,
   * "Several peers at once"); the daemon's `--split-backfill` sets two pages. A split recorded before a
   * restart is finished whatever this says.
   */
  readonly splitMinRows?: number
}

/** How far a stream is: rows applied, and (for progress) how many the peer had pending when it began. */
const DEFAULT_PROGRESS_LOG_MILLIS = 5_000

type Progress = {
  done: number
  logStart: number
  expected?: number
  loggedAt?: number
  startedAt?: number
  startedDone?: number
  /** What BackfillProgress was last told of catching up (an empty page that changes nothing is not told). */
  reportedCaughtUp?: boolean
  /** The stream's pages are a bulk load it began (LibraryStore's BulkLoad). */
  bulk?: boolean
}

/**
 * Apply a checked page, then (and only then) record how far we are, in one sync.db transaction with the
 * received counters: for a table stream the watermark and the backfill checkpoint; for a state transfer only
 * the checkpoint (its watermark is a log position, set when the transfer ends); for a log stream only the
 * watermark. Once that is committed, a table or state stream reports its progress (BackfillProgress, log).
 */
const applyPage = (
  conn: PeerConnection,
  resource: ResourceType,
  page: Page | LogPage,
  rows: ReadonlyArray<Row>,
  mode: "table" | "state" | "log",
  progress: Progress,
  logEvery = DEFAULT_PROGRESS_LOG_MILLIS
) =>
  Effect.gen(function* () {
    const library = yield* Library
    const watermarks = yield* WatermarkStore
    const checkpoints = yield* CheckpointStore
    const metrics = yield* SyncMetrics
    const progressRecord = yield* ProgressRecord
    yield* timed(library.applyRemote(resource, rows, { bulk: progress.bulk === true }), (live, _, millis) =>
      live.pageApplied(conn.peer, resource, { rows: rows.length, remaining: page.remaining, millis })
    )
    progress.done += rows.length
    // A page counts what remains only up to a cap; the exchange's exact count bounds it from below.
    const total = Math.max(progress.done + page.remaining, progress.expected ?? 0)
    yield* progressRecord.together(
      Effect.gen(function* () {
        if (mode !== "state") yield* watermarks.advance(conn.peer, resource, page.last)
        // The table's end the page was read at, when no cursor kept from now on holds it: a table stream's
        // watermark holds `last`, a state transfer keeps no table position once it ends.
        const end = "end" in page ? page.end : undefined
        if (end !== undefined && watermarks.recordSeen !== undefined && (mode === "state" || end > page.last))
          yield* watermarks.recordSeen(conn.peer, end)
        yield* metrics.received(conn.peer, rows.length, approximateSize(rows))
        if (mode === "log") return
        if (mode === "table" && page.caughtUp) {
          yield* checkpoints.clear(conn.peer, resource)
        } else {
          yield* checkpoints.save(conn.peer, resource, {
            cursor: page.last,
            recordsDone: progress.done,
            totalExpected: total,
            logStart: progress.logStart
          })
        }
      })
    )
    if (mode !== "log")
      yield* reportProgress(conn, resource, page.caughtUp, rows.length, progress, total, logEvery)
  })

/**
 * Publish where a stream stands to BackfillProgress, with its rate since its first page and the time left;
 * and while it is behind, say so in the log at most every `every` ms: "Backfilling entry from D: 40% (400000
 * of 1000000, 45000 rows/s, about 13 s left)". A finished transfer (or an empty one) is reported by the
 * caught-up line, not as a percentage.
 */
const reportProgress = (
  conn: PeerConnection,
  resource: ResourceType,
  caughtUp: boolean,
  rows: number,
  progress: Progress,
  total: number,
  every: number
) =>
  Effect.gen(function* () {
    if (rows === 0 && progress.reportedCaughtUp === caughtUp) return
    progress.reportedCaughtUp = caughtUp
    const now = yield* Clock.currentTimeMillis
    const startedAt = (progress.startedAt ??= now)
    const startedDone = (progress.startedDone ??= progress.done)
    const { rate, secondsLeft } = estimate({ done: progress.done, total, startedAt, startedDone }, now)
    yield* Effect.flatMap(BackfillProgress, (backfills) =>
      backfills.update({
        peer: conn.peer,
        resource,
        done: progress.done,
        total,
        rate,
        etaSeconds: secondsLeft,
        caughtUp,
        updatedAt: now
      })
    )
    if (caughtUp || total === 0) return
    if (progress.loggedAt !== undefined && now - progress.loggedAt < every) return
    progress.loggedAt = now
    const percent = Math.floor((100 * progress.done) / total)
    const eta = secondsLeft !== null ? `, about ${Math.ceil(secondsLeft)} s left` : ""
    yield* Effect.logInfo(
      `Backfilling ${resource} from ${conn.peer}: ${percent}% (${progress.done} of ${total}` +
        (rate > 0 ? `, ${Math.round(rate)} rows/s${eta})` : ")")
    )
  })

/**
 * Requests made for every page are built without checking their fields at construction (about 60 µs each):
 * every transport encodes a request by its Schema before sending it, which checks the same fields.
 */
const unchecked = true

/** The page of a table after `after`; a peer that moves the cursor back breaks the protocol. */
const pullPage = (
  conn: PeerConnection,
  resource: ResourceType,
  after: number,
  waitMillis: number,
  limit: number
) =>
  Effect.filterOrFail(
    conn.send(new Pull({ resource, after, limit, waitMillis }, unchecked)),
    (page) => page.last >= after,
    () => new ProtocolViolation({ peer: conn.peer, reason: `moved the ${resource} cursor back` })
  )

/**
 * The pages of a table after `after` until one is caught up (a round), each given to `consume` in order: each
 * request goes out as soon as the page before it has arrived and been taken, so the peer reads and sends a
 * page while the one before is checked and applied. At most one page is ahead of the one being applied: the
 * next request leaves only once the page before it is taken (as a Stream with a hand-off buffer would do,
 * without its per-page machinery: a fiber per request, joined). The request fetched ahead is interrupted
 * when the round ends otherwise (a failed page, an interruption).
 */
const round = <E, R>(
  conn: PeerConnection,
  resource: ResourceType,
  after: number,
  options: StreamOptions,
  consume: (page: Page) => Effect.Effect<void, E, R>
) =>
  Effect.suspend(() => {
    let ahead: Fiber.RuntimeFiber<Page, Effect.Effect.Error<ReturnType<typeof pullPage>>> | undefined
    const fetch = (from: number) =>
      Effect.map(Effect.fork(pullPage(conn, resource, from, 0, options.batchSize)), (fiber) => {
        ahead = fiber
        return fiber
      })
    return Effect.gen(function* () {
      let fiber = yield* fetch(after)
      for (;;) {
        const page = yield* Fiber.join(fiber)
        ahead = undefined
        if (!page.caughtUp) fiber = yield* fetch(page.last)
        yield* consume(page)
        if (page.caughtUp) return
      }
    }).pipe(
      Effect.ensuring(Effect.suspend(() => (ahead === undefined ? Effect.void : Fiber.interrupt(ahead))))
    )
  })

/**
 * Let everything else that is ready run, I/O included, then continue: one turn of the event loop (unlike
 * `Effect.yieldNow`, which lets only other fibers run), without the timer's minimum of a millisecond.
 */
const yieldToEventLoop = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/**
 * Pull a table after `start` and apply it page by page: forever, or until caught up for a state transfer
 * (then the cursor it ended at). While behind, it pulls rounds (`round`: one page fetched ahead of the one
 * being applied). Once caught up it asks one page at a time with a wait, which the peer holds until it has
 * rows: a new row is one page and one request, with no Stream set up for it (a round per live page cost
 * more CPU than applying the row, docs/benchmarks.md). A live page that is not caught up (a burst) is
 * followed by a round from its end. The next request goes out only once the page before it is committed.
 * A stream the exchange found up to date (`live`) starts with the live request. A page that fails its
 * check ends the stream, the page fetched ahead included; an interruption loses at most that page and the
 * one being applied.
 */
const pullTable = (
  conn: PeerConnection,
  resource: ResourceType,
  start: number,
  options: StreamOptions,
  mode: "table" | "state",
  progress: Progress,
  onFirstCatchUp: Effect.Effect<void, StoreError> = Effect.void,
  live = false
) =>
  Effect.gen(function* () {
    let cursor = start
    let caughtUp = false
    const consume = (page: Page) =>
      Effect.gen(function* () {
        const rows = yield* checkPage(conn, resource, page.rows, options.batchSize)
        yield* applyPage(conn, resource, page, rows, mode, progress, options.progressLogMillis)
        if (page.caughtUp && !caughtUp) {
          yield* onFirstCatchUp
          if (progress.done > 0) {
            yield* Effect.logInfo(`Caught up on ${resource} from ${conn.peer} (${progress.done} rows)`)
          }
        }
        cursor = page.last
        caughtUp = page.caughtUp
      })
    let behind = !live
    for (;;) {
      if (behind) {
        // Checking and applying run synchronously: let the request for the next page go out first.
        yield* round(conn, resource, cursor, options, (page) =>
          Effect.zipRight(yieldToEventLoop, consume(page))
        )
        if (mode === "state") return cursor
      } else {
        const page = yield* pullPage(conn, resource, cursor, options.liveWaitMillis, options.batchSize)
        yield* consume(page)
      }
      behind = !caughtUp
    }
  })

/** Whether ranges follow one another from the first uuid to past the last: what a split's plan records. */
const coverEveryUuid = (ranges: ReadonlyArray<EndedRange>): boolean => {
  let at = Fingerprint.FULL_RANGE.lo
  for (const r of [...ranges].sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0))) {
    if (r.lo !== at) return false
    at = r.hi
  }
  return at === Fingerprint.FULL_RANGE.hi
}

/**
 * Reconcile a kind with the peer before its stream starts, and return the position of the peer's table the
 * stream may continue from: every row the peer held there is here (at least as new). After a split this
 * process saw end, the ranges this peer pulled whole in this session count as held as of the position read
 * before (`whole`), and each other range compares the peer's fingerprint with what it received, instead of
 * reading the table; otherwise (or when the ended ranges do not cover every uuid) the whole kind is compared.
 */
const reconcileAfter = (
  conn: PeerConnection,
  resource: ResourceType,
  options: StreamOptions,
  ended: Option.Option<ReadonlyArray<EndedRange>>
) =>
  Effect.gen(function* () {
    const usable = Option.filter(ended, coverEveryUuid)
    const ranges = Option.getOrElse(usable, () => [] as ReadonlyArray<EndedRange>)
    // Only ranges this very session pulled whole: in another, the peer's files may have been restored since.
    const servedHere = (r: EndedRange) => r.whole?.peer === conn.peer && r.whole.session === conn
    const own = ranges.flatMap((r) => (servedHere(r) ? [r.whole!.since] : []))
    const others = ranges.filter((r) => !servedHere(r))
    const since = own.length > 0 ? Math.min(...own) : undefined
    if (Option.isSome(usable) && others.length === 0 && since !== undefined) {
      yield* Effect.logInfo(`Reconciled ${resource} with ${conn.peer}: it served every range of the split`)
      return since
    }
    const known = Option.isSome(usable)
      ? others.map((r) => ({ range: { lo: r.lo, hi: r.hi }, local: r.received }))
      : undefined
    const result = yield* reconcile(conn, resource, options.batchSize, known)
    yield* Effect.logInfo(
      `Reconciled ${resource} with ${conn.peer}: ${result.differingRanges} range(s) differed, ${result.pulled} row(s) pulled`
    )
    return since === undefined ? result.lastSeq : Math.min(since, result.lastSeq)
  })

/**
 * A device-owned kind: its table, by the peer's seq. From zero, it waits for its turn (BackfillCoordinator)
 * and, when this device already holds rows of the kind, reconciles with the peer first and continues from
 * the peer's seq at that moment instead of pulling every row again. Into an empty table (or to resume such
 * a load after a restart) it pulls as a bulk load when the store offers one, ended once caught up.
 */
const runOwned = (
  conn: PeerConnection,
  resource: ResourceType,
  options: StreamOptions,
  pending: number,
  peerEnd: number | undefined
) =>
  Effect.gen(function* () {
    const watermarks = yield* WatermarkStore
    const checkpoints = yield* CheckpointStore
    const coordinator = yield* BackfillCoordinator
    const store = yield* LibraryStore
    let start = yield* watermarks.get(conn.peer, resource)
    const resuming = start > 0 && Option.isSome(yield* checkpoints.get(conn.peer, resource))
    let empty = false
    // A returning stream the exchange found up to date waits for the peer's next change straight away. (One
    // that took a backfill turn pulls at once, so it ends its turn as soon as it is caught up.)
    const upToDate = start > 0 && pending === 0
    if (start === 0) {
      const before = yield* store.lastSeq(resource)
      // Into an empty table, the kind may be split over several peers by uuid range (when asked to).
      const minRows = options.splitMinRows
      const turn = yield* coordinator.turn(resource, conn.peer, {
        rows: pending,
        ...(before === 0 && minRows !== undefined ? { split: { minRows } } : {})
      })
      if (turn === "split") {
        const progress: Progress = { done: 0, logStart: 0 }
        yield* pullRanges(conn, resource, options.batchSize, peerEnd, (rows, done) =>
          Effect.suspend(() => {
            progress.done = done
            // What this peer reported bounds its share from above: the split's own ranges are not counted.
            const total = Math.max(done, pending)
            const every = options.progressLogMillis ?? DEFAULT_PROGRESS_LOG_MILLIS
            return reportProgress(conn, resource, false, rows, progress, total, every)
          })
        )
      }
      const held = yield* store.lastSeq(resource)
      empty = held === 0
      if (held > 0) {
        // Fingerprints and range reads need the uuid index: end a load another stream left unfinished.
        if (store.bulk !== undefined) yield* store.bulk.end(resource)
        start = yield* reconcileAfter(conn, resource, options, coordinator.ended(resource))
        yield* watermarks.advance(conn.peer, resource, start)
      }
    }
    const checkpoint = yield* checkpoints.get(conn.peer, resource)
    const done = Option.match(checkpoint, { onNone: () => 0, onSome: (c) => c.recordsDone })
    const bulk = store.bulk
    const loading = bulk !== undefined && (empty || resuming) && (yield* bulk.begin(resource))
    // Not loading: a load left unfinished (by a crash after its last page) ends now, before rows are read by uuid.
    if (bulk !== undefined && !loading) yield* bulk.end(resource)
    return yield* pullTable(
      conn,
      resource,
      start,
      options,
      "table",
      { done, logStart: 0, expected: done + pending, bulk: loading },
      // A finished load builds its index before other streams of the kind reconcile against it.
      Effect.zipRight(
        bulk !== undefined && loading ? bulk.end(resource) : Effect.void,
        coordinator.finish(resource)
      ),
      upToDate && Option.isNone(checkpoint)
    )
  }).pipe(Effect.scoped)

/**
 * A shared kind: first the current state of every row (a paged transfer of the peer's table, resumable from
 * its checkpoint), then the peer's shared log from where it stood when the transfer began. A returning
 * device pulls only the log after its watermark; if that part of the log was pruned, it transfers state again.
 */
const runShared = (conn: PeerConnection, resource: ResourceType, options: StreamOptions, pending: number) =>
  Effect.gen(function* () {
    const watermarks = yield* WatermarkStore
    const checkpoints = yield* CheckpointStore
    let transferred = false
    for (;;) {
      let after = yield* watermarks.get(conn.peer, resource)
      const checkpoint = yield* checkpoints.get(conn.peer, resource)
      if (!transferred && (after === 0 || Option.isSome(checkpoint))) {
        after = yield* transferState(conn, resource, options, checkpoint)
        transferred = true
      }
      const pruned = yield* pullLog(conn, resource, after, options, !transferred && pending === 0)
      if (pruned) {
        yield* Effect.logWarning(
          `The shared log of ${conn.peer} no longer holds the ${resource} changes after ${after}: transferring state again`
        )
        yield* checkpoints.clear(conn.peer, resource)
        after = yield* transferState(conn, resource, options, Option.none())
      }
    }
  })

const transferState = (
  conn: PeerConnection,
  resource: ResourceType,
  options: StreamOptions,
  checkpoint: Option.Option<{ cursor: number; recordsDone: number; logStart: number }>
) =>
  Effect.gen(function* () {
    const watermarks = yield* WatermarkStore
    const checkpoints = yield* CheckpointStore
    // The log position is taken before the first row and made durable before any row is applied: every
    // change after it is then either in the pages or in the log after it. It is the peer's applied end, not
    // its last entry: an entry is logged before its row reaches the table, and a transfer that read the
    // table in between and followed the log from after that entry would never see its change.
    const progress = yield* Option.match(checkpoint, {
      onSome: (c) => Effect.succeed({ done: c.recordsDone, logStart: c.logStart, cursor: c.cursor }),
      onNone: () =>
        Effect.gen(function* () {
          const state = yield* conn.send(new Exchange({ holds: [], listen: null }))
          const fresh = { done: 0, logStart: state.log.applied ?? state.log.last, cursor: 0 }
          yield* checkpoints.save(conn.peer, resource, { ...fresh, recordsDone: 0, totalExpected: 0 })
          return fresh
        })
    })
    yield* pullTable(conn, resource, progress.cursor, options, "state", progress)
    yield* Effect.flatMap(ProgressRecord, (record) =>
      record.together(
        Effect.zipRight(
          watermarks.advance(conn.peer, resource, progress.logStart),
          checkpoints.clear(conn.peer, resource)
        )
      )
    )
    return progress.logStart
  })

/** The page of a shared kind's log after `after`; a peer that moves the cursor back breaks the protocol. */
const pullLogPage = (
  conn: PeerConnection,
  resource: ResourceType,
  after: number,
  waitMillis: number,
  limit: number
) =>
  Effect.filterOrFail(
    conn.send(new PullLog({ resource, after, limit, waitMillis }, unchecked)),
    (page) => page.pruned || page.last >= after,
    () => new ProtocolViolation({ peer: conn.peer, reason: `moved the ${resource} log cursor back` })
  )

/**
 * The log of one shared kind, forever; returns true when the peer pruned what we need. Starts with the live
 * request when the exchange found nothing new in it (`live`). No page is fetched ahead: each request goes out
 * after the page before it is applied and acknowledged (a plain loop: a Stream's per-page machinery bought
 * nothing here). After a caught-up page the request waits on the peer for new rows.
 */
const pullLog = (
  conn: PeerConnection,
  resource: ResourceType,
  start: number,
  options: StreamOptions,
  live: boolean
) =>
  Effect.gen(function* () {
    const watermarks = yield* WatermarkStore
    let acked = 0
    let after = start
    let waitMillis = live ? options.liveWaitMillis : 0
    for (;;) {
      const page = yield* pullLogPage(conn, resource, after, waitMillis, options.batchSize)
      // The log stream ends only with a pruned page.
      if (page.pruned) return true
      const rows = yield* checkPage(conn, resource, page.rows, options.batchSize)
      yield* applyPage(conn, resource, page, rows, "log", { done: 0, logStart: 0 })
      // Acknowledge what we hold of the peer's log over all shared kinds whenever that grew, so it can prune.
      const { sharedNames } = yield* Kinds
      const held = Math.min(...(yield* Effect.forEach(sharedNames, (r) => watermarks.get(conn.peer, r))))
      if (held > acked) {
        yield* conn.send(new Ack({ seq: held }))
        acked = held
      }
      after = page.last
      waitMillis = page.caughtUp ? options.liveWaitMillis : 0
    }
  })

/** Run the stream of `resource` from `conn` until it fails or is interrupted. */
export const run = (
  conn: PeerConnection,
  resource: ResourceType,
  options: StreamOptions,
  pending = 0,
  /** The peer's table end for the kind, from the session's exchange (read before the stream starts). */
  peerEnd?: number
) =>
  Effect.flatMap(Kinds, (catalog) =>
    catalog.isShared(resource)
      ? runShared(conn, resource, options, pending)
      : runOwned(conn, resource, options, pending, peerEnd)
  )
