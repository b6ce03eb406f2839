// A hub: a device whose stores all live in one schema of a PostgreSQL database, so that several processes
// (on one machine or several) can serve it at once. What keeps them consistent, each in its store:
// - seq order: the kind tables' and the shared log's seqs come from counter rows whose lock is held until
//   the writing transaction commits, so writes commit in seq order across processes and no reader's cursor
//   can pass a lower seq that commits later (LibraryStorePg, SharedLogPg);
// - the clock: the newest timestamp any process issued is one row, read and raised under its lock, so
//   timestamps are unique and increasing across processes (HlcClockPg);
// - shared state: watermarks, checkpoints, acks, the shared log and the store id are the same rows for every
//   process, updated with statements that only move forward (GREATEST / conditional upserts), and pruning
//   and peer-store rebasing take row locks first (SharedLogPg, WatermarkStorePg).
import { Duration, Effect, Layer, Schedule } from "effect"
import { ChangeFeed } from "../services/ChangeFeed.js"
import { seqCounterTable } from "./LibraryDbSchema.js"
import { PG_TABLES } from "./LibraryDbSchemaPg.js"
import { LibraryDb } from "./Sqlite.js"
import * as CheckpointStorePg from "./CheckpointStorePg.js"
import * as HlcClockPg from "./HlcClockPg.js"
import * as LibraryStorePg from "./LibraryStorePg.js"
import * as PeerStatusPg from "./PeerStatusPg.js"
import * as Postgres from "./Postgres.js"
import * as ProgressRecordSqlite from "./ProgressRecordSqlite.js"
import * as SharedLogPg from "./SharedLogPg.js"
import * as SyncMetricsPg from "./SyncMetricsPg.js"
import * as WatermarkStorePg from "./WatermarkStorePg.js"

export type { PostgresLocation } from "./Postgres.js"

/** The hub's schema, opened and migrated: one client as both LibraryDb and SyncDb. */
export const storage = Postgres.layer

/** The hub's clock, shared by its processes. */
export const clock = HlcClockPg.layer

/** The LibraryStore over the hub's kind tables. */
export const libraryStore = LibraryStorePg.layer()

/**
 * The coordination stores over the hub's schema. Progress records (watermark, checkpoint and counters of a
 * page in one transaction) need nothing particular to a dialect, so the SQLite layer's `withTransaction`
 * serves here as it is.
 */
export const syncStores = Layer.mergeAll(
  WatermarkStorePg.layer,
  CheckpointStorePg.layer,
  SharedLogPg.layer,
  PeerStatusPg.layer,
  SyncMetricsPg.layer,
  ProgressRecordSqlite.layer,
  HlcClockPg.clockStateLayer
)

/** How often a hub process looks for commits by its other processes. */
export const WATCH_INTERVAL_MILLIS = 250

/**
 * Commits by another process of the hub reach the peers this process serves: poll the seq counter and the
 * shared log's end (every write moves one of them) and, when either moved, publish on the ChangeFeed, which
 * wakes the pulls that peers hold open here. Keeps: another process's commit is noticed within one interval.
 * Runs until interrupted (fork it in the engine's scope); a failed poll is logged and retried.
 */
export const watchOtherProcesses = (intervalMillis: number = WATCH_INTERVAL_MILLIS) =>
  Effect.gen(function* () {
    const sql = yield* LibraryDb
    const feed = yield* ChangeFeed
    const read = Effect.map(
      sql.unsafe<{ seq: number; log: number }>(
        `SELECT (SELECT next FROM ${seqCounterTable(PG_TABLES)} WHERE id = 1) AS seq,
                (SELECT last_seq FROM shared_log_state WHERE id = 1) AS log`
      ),
      (rows) => `${rows[0]?.seq}/${rows[0]?.log}`
    )
    let last = yield* read
    const poll = read.pipe(
      Effect.flatMap((now) => {
        if (now === last) return Effect.void
        last = now
        return feed.publish()
      }),
      Effect.catchAll((e) =>
        Effect.logWarning(`Could not check the hub for other processes' writes: ${e.message}`)
      )
    )
    return yield* Effect.repeat(poll, Schedule.spaced(Duration.millis(intervalMillis))).pipe(
      Effect.zipRight(Effect.never)
    )
  })
