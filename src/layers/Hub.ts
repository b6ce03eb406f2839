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
import { Layer } from "effect"
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
  ProgressRecordSqlite.layer
)
