// The schema of sync.db: coordination only, never domain data.
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect, type Layer } from "effect"
import type { DatabaseOpenError } from "../domain/Errors.js"
import { openingsDdl } from "./OpeningsSqlite.js"
import { layerSyncDb, type Migrations, type SyncDb } from "./Sqlite.js"

const statusMigration = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql.unsafe(`CREATE TABLE peer_counters (
    peer_device_uuid TEXT PRIMARY KEY,
    records_received INTEGER NOT NULL DEFAULT 0,
    bytes_received INTEGER NOT NULL DEFAULT 0,
    records_sent INTEGER NOT NULL DEFAULT 0,
    bytes_sent INTEGER NOT NULL DEFAULT 0
  )`)
  yield* sql.unsafe(`CREATE TABLE peers (
    peer_device_uuid TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    connections INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    last_error TEXT
  )`)
})

export const syncMigrations: Migrations = {
  "1_coordination": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(`CREATE TABLE device_resource_watermarks (
      device_uuid TEXT NOT NULL,
      peer_device_uuid TEXT NOT NULL,
      resource_type TEXT NOT NULL,
      last_watermark INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      PRIMARY KEY (device_uuid, peer_device_uuid, resource_type)
    )`)
    yield* sql.unsafe(`CREATE TABLE backfill_checkpoints (
      peer_device_uuid TEXT NOT NULL,
      resource_type TEXT NOT NULL,
      cursor INTEGER NOT NULL,
      records_done INTEGER NOT NULL,
      total_expected INTEGER NOT NULL,
      log_start INTEGER NOT NULL DEFAULT 0,
      started_at INTEGER NOT NULL,
      started_done INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      PRIMARY KEY (peer_device_uuid, resource_type)
    )`)
    yield* sql.unsafe(`CREATE TABLE shared_changes (
      seq INTEGER PRIMARY KEY AUTOINCREMENT,
      hlc TEXT NOT NULL,
      resource_type TEXT NOT NULL,
      record_uuid TEXT NOT NULL,
      op TEXT NOT NULL CHECK (op IN ('put', 'delete')),
      data TEXT NOT NULL,
      applied INTEGER NOT NULL DEFAULT 0
    )`)
    yield* sql.unsafe("CREATE INDEX shared_changes_unapplied ON shared_changes (seq) WHERE applied = 0")
    yield* sql.unsafe("CREATE INDEX shared_changes_by_resource ON shared_changes (resource_type, seq)")
    yield* sql.unsafe(
      "CREATE TABLE shared_log_state (id INTEGER PRIMARY KEY CHECK (id = 1), pruned_through INTEGER NOT NULL)"
    )
    yield* sql.unsafe(`CREATE TABLE peer_acks (
      peer_device_uuid TEXT PRIMARY KEY,
      seq INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    )`)
    yield* sql.unsafe(
      "CREATE TABLE hlc_state (id INTEGER PRIMARY KEY CHECK (id = 1), high_water_millis INTEGER NOT NULL)"
    )
  }),
  "2_status": statusMigration,
  "3_peer_stores": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe("CREATE TABLE peer_stores (peer_device_uuid TEXT PRIMARY KEY, store_id TEXT NOT NULL)")
  }),
  // Each serving process's opening and the highest shared-log seq it vouched for; and, per peer, the
  // opening of the peer this device last exchanged with (services/Openings.ts).
  "4_openings": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(openingsDdl("store_openings"))
    yield* sql.unsafe("ALTER TABLE peer_stores ADD COLUMN opening TEXT")
  }),
  // Per peer, the highest table end it showed this device beyond a position held (Page.end).
  "5_peer_seen": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.unsafe("ALTER TABLE peer_stores ADD COLUMN seen INTEGER NOT NULL DEFAULT 0")
  ),
  // The uuid ranges of a kind's backfill split over several peers, and how far each is (CheckpointStore.ranges).
  "6_backfill_ranges": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.unsafe(`CREATE TABLE backfill_ranges (
      resource_type TEXT NOT NULL,
      lo TEXT NOT NULL,
      hi TEXT NOT NULL,
      cursor TEXT NOT NULL,
      done INTEGER NOT NULL,
      records_done INTEGER NOT NULL,
      received_count INTEGER NOT NULL,
      received_h1 INTEGER NOT NULL,
      received_h2 INTEGER NOT NULL,
      PRIMARY KEY (resource_type, lo)
    )`)
  )
}

export const layer = (file: string): Layer.Layer<SyncDb, DatabaseOpenError> =>
  layerSyncDb(file, syncMigrations)
