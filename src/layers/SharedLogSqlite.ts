// SharedLog over sync.db's shared_changes and peer_acks. seq is AUTOINCREMENT so a seq is never reused after
// pruning: a peer's cursor into the log stays meaningful forever.
import { Clock, Effect, Layer } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"
import type { Row } from "../domain/Row.js"
import { appliedEnd, type LogBounds, type LogEntry, SharedLog } from "../services/SharedLog.js"
import * as Openings from "./OpeningsSqlite.js"
import { catchSqlError, storeError, SyncDb } from "./Sqlite.js"

type DbEntry = { seq: number; resource_type: ResourceType; data: string }

const toEntry = (e: DbEntry): LogEntry => ({
  seq: e.seq,
  resource: e.resource_type,
  row: JSON.parse(e.data) as Row
})

const ROWS_PER_STATEMENT = 1_000

export const make = Effect.gen(function* () {
  const sql = yield* SyncDb
  /** The first seq appended since the log was opened (a server compares peers' positions with it). */
  let firstSinceOpen: number | undefined

  const append = (entries: ReadonlyArray<{ readonly resource: ResourceType; readonly row: Row }>) =>
    sql
      .withTransaction(
        Effect.gen(function* () {
          const seqs: Array<number> = []
          for (let start = 0; start < entries.length; start += ROWS_PER_STATEMENT) {
            const chunk = entries.slice(start, start + ROWS_PER_STATEMENT)
            const params = chunk.flatMap(({ resource, row }) => [
              row.version,
              resource,
              row.uuid,
              row.deleted ? "delete" : "put",
              JSON.stringify(row)
            ])
            const rows = yield* sql.unsafe<{ seq: number }>(
              `INSERT INTO shared_changes (hlc, resource_type, record_uuid, op, data) VALUES ${chunk
                .map(() => "(?, ?, ?, ?, ?)")
                .join(",")} RETURNING seq`,
              params
            )
            for (const r of rows) seqs.push(r.seq)
          }
          // A rolled-back append hands the same seq out again: the first one stays right.
          if (firstSinceOpen === undefined && seqs.length > 0) firstSinceOpen = seqs[0]
          return seqs as ReadonlyArray<number>
        })
      )
      .pipe(Effect.mapError(storeError("sync.db", "append to shared log")))

  const markApplied = (seqs: ReadonlyArray<number>) =>
    seqs.length === 0
      ? Effect.void
      : sql
          .unsafe(
            `UPDATE shared_changes SET applied = 1 WHERE seq IN (${seqs.map(() => "?").join(",")})`,
            seqs
          )
          .pipe(Effect.asVoid, Effect.mapError(storeError("sync.db", "mark shared changes applied")))

  const unapplied = (limit: number) =>
    sql
      .unsafe<DbEntry>(
        "SELECT seq, resource_type, data FROM shared_changes WHERE applied = 0 ORDER BY seq LIMIT ?",
        [limit]
      )
      .pipe(
        Effect.map((rows) => rows.map(toEntry)),
        Effect.mapError(storeError("sync.db", "read unapplied"))
      )

  const readAfter = (after: number, limit: number) =>
    sql
      .unsafe<DbEntry>(
        "SELECT seq, resource_type, data FROM shared_changes WHERE seq > ? ORDER BY seq LIMIT ?",
        [after, limit]
      )
      .pipe(
        Effect.map((rows) => rows.map(toEntry)),
        Effect.mapError(storeError("sync.db", "read shared log"))
      )

  const readResource = (resource: ResourceType, after: number, limit: number) =>
    Effect.gen(function* () {
      // Bound the read by the log's end taken first: entries commit in seq order, so every entry of this
      // kind up to that bound is visible, and the cursor may safely jump to it when the page is not full.
      const [end] = yield* sql.unsafe<{ seq: number }>(
        "SELECT seq FROM sqlite_sequence WHERE name = 'shared_changes'"
      )
      const bound = end?.seq ?? 0
      const rows = yield* sql.unsafe<DbEntry>(
        `SELECT seq, resource_type, data FROM shared_changes
         WHERE resource_type = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?`,
        [resource, after, bound, limit]
      )
      const entries = rows.map(toEntry)
      return { entries, through: entries.length < limit ? Math.max(after, bound) : entries.at(-1)!.seq }
    }).pipe(catchSqlError("sync.db", "read shared log"))

  const countAfter = (resource: ResourceType, after: number) =>
    sql
      .unsafe<{ n: number }>("SELECT count(*) AS n FROM shared_changes WHERE resource_type = ? AND seq > ?", [
        resource,
        after
      ])
      .pipe(
        Effect.map((rows) => rows[0]!.n),
        Effect.mapError(storeError("sync.db", "count shared log"))
      )

  const bounds = Effect.gen(function* () {
    const [row] = yield* sql.unsafe<{ first: number | null; count: number }>(
      "SELECT min(seq) AS first, count(*) AS count FROM shared_changes"
    )
    // sqlite_sequence remembers the highest seq ever handed out, even after everything was pruned.
    const [last] = yield* sql.unsafe<{ seq: number }>(
      "SELECT seq FROM sqlite_sequence WHERE name = 'shared_changes'"
    )
    const [pruned] = yield* sql.unsafe<{ through: number }>(
      "SELECT pruned_through AS through FROM shared_log_state WHERE id = 1"
    )
    return {
      first: row?.first ?? 0,
      last: last?.seq ?? 0,
      count: row?.count ?? 0,
      prunedThrough: pruned?.through ?? 0
    } satisfies LogBounds
  }).pipe(Effect.mapError(storeError("sync.db", "read shared log bounds")))

  const appliedThrough = Effect.gen(function* () {
    const b = yield* bounds
    const [first] = yield* sql.unsafe<{ seq: number | null }>(
      "SELECT min(seq) AS seq FROM shared_changes WHERE applied = 0"
    )
    return appliedEnd(b, first?.seq ?? null)
  }).pipe(catchSqlError("sync.db", "read the applied end of the shared log"))

  const ack = (peer: DeviceId, seq: number) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      sql.unsafe(
        `INSERT INTO peer_acks (peer_device_uuid, seq, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (peer_device_uuid) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at
         WHERE excluded.seq > seq`,
        [peer, seq, now]
      )
    ).pipe(Effect.asVoid, Effect.mapError(storeError("sync.db", "record ack")))

  const acks = sql
    .unsafe<{ peer: DeviceId; seq: number }>("SELECT peer_device_uuid AS peer, seq FROM peer_acks")
    .pipe(
      Effect.map((rows): ReadonlyMap<DeviceId, number> => new Map(rows.map((r) => [r.peer, r.seq]))),
      Effect.mapError(storeError("sync.db", "read acks"))
    )

  const prune = (members: ReadonlyArray<DeviceId>, retainAtMost?: number) =>
    sql
      .withTransaction(
        Effect.gen(function* () {
          const acked = yield* acks
          const lowest = members.length === 0 ? 0 : Math.min(...members.map((m) => acked.get(m) ?? 0))
          const byAck = yield* sql.unsafe<{ seq: number }>(
            "DELETE FROM shared_changes WHERE seq <= ? AND applied = 1 RETURNING seq",
            [lowest]
          )
          let byRetention: ReadonlyArray<{ seq: number }> = []
          if (retainAtMost !== undefined) {
            byRetention = yield* sql.unsafe<{ seq: number }>(
              `DELETE FROM shared_changes WHERE applied = 1 AND seq <= (
             SELECT seq FROM shared_changes ORDER BY seq DESC LIMIT 1 OFFSET ?) RETURNING seq`,
              [retainAtMost]
            )
          }
          const removed = [...byAck, ...byRetention]
          if (removed.length > 0) {
            yield* sql.unsafe(
              `INSERT INTO shared_log_state (id, pruned_through) VALUES (1, ?)
           ON CONFLICT (id) DO UPDATE SET pruned_through = max(pruned_through, excluded.pruned_through)`,
              [Math.max(...removed.map((r) => r.seq))]
            )
          }
          return removed.length
        })
      )
      .pipe(catchSqlError("sync.db", "prune shared log"))

  return SharedLog.of({
    firstSeqSinceOpen: () => firstSinceOpen,
    openings: Openings.make(
      sql,
      "sync.db",
      "store_openings",
      "SELECT seq FROM sqlite_sequence WHERE name = 'shared_changes'"
    ),
    append,
    markApplied,
    unapplied,
    readAfter,
    readResource,
    bounds,
    appliedThrough,
    countAfter,
    ack,
    acks,
    prune
  })
})

export const layer: Layer.Layer<SharedLog, never, SyncDb> = Layer.effect(SharedLog, make)
