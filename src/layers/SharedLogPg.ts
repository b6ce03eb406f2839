// SharedLog over a hub's shared_changes and peer_acks on PostgreSQL. An append takes its seqs from the
// shared_log_state row first, which locks that row until the append commits: appends from every process of
// the hub commit one after another in seq order, so a reader bounded by the committed `last_seq` never
// passes an entry that commits later. Seqs are never reused after pruning.
import { Clock, Effect, Layer } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"
import type { Row } from "../domain/Row.js"
import { appliedEnd, type LogBounds, type LogEntry, SharedLog } from "../services/SharedLog.js"
import { storeError } from "./Postgres.js"
import { SyncDb } from "./Sqlite.js"

type DbEntry = { seq: number; resource_type: ResourceType; data: string }

const toEntry = (e: DbEntry): LogEntry => ({
  seq: e.seq,
  resource: e.resource_type,
  row: JSON.parse(e.data) as Row
})

const ENTRIES_PER_STATEMENT = 1_000

export const make = Effect.gen(function* () {
  const sql = yield* SyncDb

  const append = (entries: ReadonlyArray<{ readonly resource: ResourceType; readonly row: Row }>) =>
    entries.length === 0
      ? Effect.succeed([] as ReadonlyArray<number>)
      : sql
          .withTransaction(
            Effect.gen(function* () {
              const [state] = yield* sql.unsafe<{ last: number }>(
                "UPDATE shared_log_state SET last_seq = last_seq + $1 WHERE id = 1 RETURNING last_seq AS last",
                [entries.length]
              )
              const first = state!.last - entries.length + 1
              for (let start = 0; start < entries.length; start += ENTRIES_PER_STATEMENT) {
                const chunk = entries.slice(start, start + ENTRIES_PER_STATEMENT)
                const params = chunk.flatMap(({ resource, row }, i) => [
                  first + start + i,
                  row.version,
                  resource,
                  row.uuid,
                  row.deleted ? "delete" : "put",
                  JSON.stringify(row)
                ])
                yield* sql.unsafe(
                  `INSERT INTO shared_changes (seq, hlc, resource_type, record_uuid, op, data) VALUES ${chunk
                    .map((_, i) => `(${[1, 2, 3, 4, 5, 6].map((c) => `$${i * 6 + c}`).join(", ")})`)
                    .join(", ")}`,
                  params
                )
              }
              return Array.from({ length: entries.length }, (_, i) => first + i) as ReadonlyArray<number>
            })
          )
          .pipe(Effect.mapError(storeError("append to shared log")))

  const markApplied = (seqs: ReadonlyArray<number>) =>
    seqs.length === 0
      ? Effect.void
      : sql
          .unsafe("UPDATE shared_changes SET applied = 1 WHERE seq = ANY($1::bigint[])", [seqs])
          .pipe(Effect.asVoid, Effect.mapError(storeError("mark shared changes applied")))

  const unapplied = (limit: number) =>
    sql
      .unsafe<DbEntry>(
        "SELECT seq, resource_type, data FROM shared_changes WHERE applied = 0 ORDER BY seq LIMIT $1",
        [limit]
      )
      .pipe(
        Effect.map((rows) => rows.map(toEntry)),
        Effect.mapError(storeError("read unapplied"))
      )

  const readAfter = (after: number, limit: number) =>
    sql
      .unsafe<DbEntry>(
        "SELECT seq, resource_type, data FROM shared_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        [after, limit]
      )
      .pipe(
        Effect.map((rows) => rows.map(toEntry)),
        Effect.mapError(storeError("read shared log"))
      )

  const readResource = (resource: ResourceType, after: number, limit: number) =>
    Effect.gen(function* () {
      // The bound is the committed end of the log, read first: appends commit in seq order, so every entry
      // up to it is visible to the next statement, and the cursor may jump to it when the page is not full.
      const [end] = yield* sql.unsafe<{ last: number }>(
        "SELECT last_seq AS last FROM shared_log_state WHERE id = 1"
      )
      const bound = end?.last ?? 0
      const rows = yield* sql.unsafe<DbEntry>(
        `SELECT seq, resource_type, data FROM shared_changes
         WHERE resource_type = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4`,
        [resource, after, bound, limit]
      )
      const entries = rows.map(toEntry)
      return { entries, through: entries.length < limit ? Math.max(after, bound) : entries.at(-1)!.seq }
    }).pipe(Effect.mapError(storeError("read shared log")))

  const countAfter = (resource: ResourceType, after: number) =>
    sql
      .unsafe<{ n: number }>(
        "SELECT count(*) AS n FROM shared_changes WHERE resource_type = $1 AND seq > $2",
        [resource, after]
      )
      .pipe(
        Effect.map((rows) => rows[0]!.n),
        Effect.mapError(storeError("count shared log"))
      )

  const bounds = Effect.gen(function* () {
    const [row] = yield* sql.unsafe<{ first: number | null; count: number }>(
      "SELECT min(seq) AS first, count(*) AS count FROM shared_changes"
    )
    const [state] = yield* sql.unsafe<{ last: number; pruned: number }>(
      "SELECT last_seq AS last, pruned_through AS pruned FROM shared_log_state WHERE id = 1"
    )
    return {
      first: row?.first ?? 0,
      last: state?.last ?? 0,
      count: row?.count ?? 0,
      prunedThrough: state?.pruned ?? 0
    } satisfies LogBounds
  }).pipe(Effect.mapError(storeError("read shared log bounds")))

  const appliedThrough = Effect.gen(function* () {
    const b = yield* bounds
    const [first] = yield* sql.unsafe<{ seq: number | null }>(
      "SELECT min(seq) AS seq FROM shared_changes WHERE applied = 0"
    )
    return appliedEnd(b, first?.seq ?? null)
  }).pipe(
    Effect.mapError((e) =>
      e._tag === "SqlError" ? storeError("read the applied end of the shared log")(e) : e
    )
  )

  const ack = (peer: DeviceId, seq: number) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      sql.unsafe(
        `INSERT INTO peer_acks AS a (peer_device_uuid, seq, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (peer_device_uuid) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at
         WHERE excluded.seq > a.seq`,
        [peer, seq, now]
      )
    ).pipe(Effect.asVoid, Effect.mapError(storeError("record ack")))

  const acks = sql
    .unsafe<{ peer: DeviceId; seq: number }>("SELECT peer_device_uuid AS peer, seq FROM peer_acks")
    .pipe(
      Effect.map((rows): ReadonlyMap<DeviceId, number> => new Map(rows.map((r) => [r.peer, r.seq]))),
      Effect.mapError(storeError("read acks"))
    )

  // Pruning locks the log's state row first, so two processes pruning at once take turns, and an append
  // (which takes the same row) never interleaves with the retention count.
  const prune = (members: ReadonlyArray<DeviceId>, retainAtMost?: number) =>
    sql
      .withTransaction(
        Effect.gen(function* () {
          yield* sql.unsafe("SELECT 1 FROM shared_log_state WHERE id = 1 FOR UPDATE")
          const acked = yield* acks
          const lowest = members.length === 0 ? 0 : Math.min(...members.map((m) => acked.get(m) ?? 0))
          const byAck = yield* sql.unsafe<{ seq: number }>(
            "DELETE FROM shared_changes WHERE seq <= $1 AND applied = 1 RETURNING seq",
            [lowest]
          )
          let byRetention: ReadonlyArray<{ seq: number }> = []
          if (retainAtMost !== undefined) {
            byRetention = yield* sql.unsafe<{ seq: number }>(
              `DELETE FROM shared_changes WHERE applied = 1 AND seq <= (
                 SELECT seq FROM shared_changes ORDER BY seq DESC LIMIT 1 OFFSET $1) RETURNING seq`,
              [retainAtMost]
            )
          }
          const removed = [...byAck, ...byRetention]
          if (removed.length > 0) {
            yield* sql.unsafe(
              "UPDATE shared_log_state SET pruned_through = GREATEST(pruned_through, $1) WHERE id = 1",
              [Math.max(...removed.map((r) => r.seq))]
            )
          }
          return removed.length
        })
      )
      .pipe(Effect.mapError((e) => (e._tag === "SqlError" ? storeError("prune shared log")(e) : e)))

  return SharedLog.of({
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
