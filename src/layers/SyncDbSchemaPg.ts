// The coordination tables of a hub on PostgreSQL (what sync.db holds on SQLite), in the hub's schema beside
// its kind tables. The shared log's seq comes from a counter row, not a SEQUENCE: a sequence hands out
// numbers that commit out of order, and a reader that passed seq 10 would never see a seq 9 committed
// later. Taking the counter row locks it until commit, so log appends commit in seq order (SharedLogPg).
import type * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

const tables = [
  `CREATE TABLE IF NOT EXISTS device_resource_watermarks (
    device_uuid text NOT NULL,
    peer_device_uuid text NOT NULL,
    resource_type text NOT NULL,
    last_watermark bigint NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (device_uuid, peer_device_uuid, resource_type)
  )`,
  `CREATE TABLE IF NOT EXISTS backfill_checkpoints (
    peer_device_uuid text NOT NULL,
    resource_type text NOT NULL,
    cursor bigint NOT NULL,
    records_done bigint NOT NULL,
    total_expected bigint NOT NULL,
    log_start bigint NOT NULL DEFAULT 0,
    started_at bigint NOT NULL,
    started_done bigint NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (peer_device_uuid, resource_type)
  )`,
  `CREATE TABLE IF NOT EXISTS shared_changes (
    seq bigint PRIMARY KEY,
    hlc text COLLATE "C" NOT NULL,
    resource_type text NOT NULL,
    record_uuid text NOT NULL,
    op text NOT NULL CHECK (op IN ('put', 'delete')),
    data text NOT NULL,
    applied smallint NOT NULL DEFAULT 0
  )`,
  "CREATE INDEX IF NOT EXISTS shared_changes_unapplied ON shared_changes (seq) WHERE applied = 0",
  "CREATE INDEX IF NOT EXISTS shared_changes_by_resource ON shared_changes (resource_type, seq)",
  // last_seq: the highest seq ever handed out (what sqlite_sequence remembers on SQLite), also after pruning.
  `CREATE TABLE IF NOT EXISTS shared_log_state (
    id integer PRIMARY KEY CHECK (id = 1),
    pruned_through bigint NOT NULL,
    last_seq bigint NOT NULL
  )`,
  "INSERT INTO shared_log_state (id, pruned_through, last_seq) VALUES (1, 0, 0) ON CONFLICT (id) DO NOTHING",
  `CREATE TABLE IF NOT EXISTS peer_acks (
    peer_device_uuid text PRIMARY KEY,
    seq bigint NOT NULL,
    updated_at bigint NOT NULL
  )`,
  // last_hlc: the highest timestamp any process of the hub issued, read and raised under the row's lock.
  `CREATE TABLE IF NOT EXISTS hlc_state (
    id integer PRIMARY KEY CHECK (id = 1),
    high_water_millis bigint NOT NULL,
    last_hlc text COLLATE "C"
  )`,
  "INSERT INTO hlc_state (id, high_water_millis, last_hlc) VALUES (1, 0, NULL) ON CONFLICT (id) DO NOTHING",
  `CREATE TABLE IF NOT EXISTS peer_counters (
    peer_device_uuid text PRIMARY KEY,
    records_received bigint NOT NULL DEFAULT 0,
    bytes_received bigint NOT NULL DEFAULT 0,
    records_sent bigint NOT NULL DEFAULT 0,
    bytes_sent bigint NOT NULL DEFAULT 0
  )`,
  // peers.connections stays 0 (hubs made before peer_connections existed have the column).
  `CREATE TABLE IF NOT EXISTS peers (
    peer_device_uuid text PRIMARY KEY,
    address text NOT NULL,
    connections integer NOT NULL,
    last_seen bigint NOT NULL,
    last_error text
  )`,
  "CREATE TABLE IF NOT EXISTS peer_stores (peer_device_uuid text PRIMARY KEY, store_id text NOT NULL)",
  // Connections per peer and per hub process (its application_name): only live processes' count.
  `CREATE TABLE IF NOT EXISTS peer_connections (
    peer_device_uuid text NOT NULL,
    process text NOT NULL,
    connections integer NOT NULL,
    PRIMARY KEY (peer_device_uuid, process)
  )`
]

/** Create the coordination tables if missing. Runs inside the opening transaction (Postgres.open). */
export const migrate = (sql: SqlClient.SqlClient) =>
  Effect.forEach(tables, (ddl) => sql.unsafe(ddl), { discard: true })
