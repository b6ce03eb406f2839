// CheckpointStore over sync.db's backfill_checkpoints.
import { Clock, Effect, Layer, Option } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"
import {
  type Checkpoint,
  type CheckpointProgress,
  CheckpointStore,
  type RangeCheckpoint,
  type RangeCheckpoints
} from "../services/CheckpointStore.js"
import { storeError, SyncDb } from "./Sqlite.js"

const columns = `peer_device_uuid AS peer, resource_type AS resource, cursor, records_done AS recordsDone,
  total_expected AS totalExpected, log_start AS logStart, started_at AS startedAt, started_done AS startedDone, updated_at AS updatedAt`

export const make = Effect.gen(function* () {
  const sql = yield* SyncDb

  const get = (peer: DeviceId, resource: ResourceType) =>
    sql
      .unsafe<Checkpoint>(
        `SELECT ${columns} FROM backfill_checkpoints WHERE peer_device_uuid = ? AND resource_type = ?`,
        [peer, resource]
      )
      .pipe(
        Effect.map((rows) => Option.fromNullable(rows[0])),
        Effect.mapError(storeError("sync.db", "read checkpoint"))
      )

  const save = (peer: DeviceId, resource: ResourceType, p: CheckpointProgress) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      sql.unsafe(
        `INSERT INTO backfill_checkpoints
           (peer_device_uuid, resource_type, cursor, records_done, total_expected, log_start, started_at, started_done,
            updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (peer_device_uuid, resource_type) DO UPDATE SET cursor = excluded.cursor,
           records_done = excluded.records_done, total_expected = excluded.total_expected, log_start = excluded.log_start,
           updated_at = excluded.updated_at`,
        [peer, resource, p.cursor, p.recordsDone, p.totalExpected, p.logStart, now, p.recordsDone, now]
      )
    ).pipe(Effect.asVoid, Effect.mapError(storeError("sync.db", "save checkpoint")))

  const clear = (peer: DeviceId, resource: ResourceType) =>
    sql
      .unsafe("DELETE FROM backfill_checkpoints WHERE peer_device_uuid = ? AND resource_type = ?", [
        peer,
        resource
      ])
      .pipe(Effect.asVoid, Effect.mapError(storeError("sync.db", "clear checkpoint")))

  const list = sql
    .unsafe<Checkpoint>(`SELECT ${columns} FROM backfill_checkpoints ORDER BY peer, resource`)
    .pipe(Effect.mapError(storeError("sync.db", "list checkpoints")))

  const saveRange = (
    verb: "INSERT OR IGNORE" | "INSERT OR REPLACE",
    resource: ResourceType,
    r: RangeCheckpoint
  ) =>
    sql.unsafe(
      `${verb} INTO backfill_ranges (resource_type, lo, hi, cursor, done, records_done, received_count, received_h1,
         received_h2) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        resource,
        r.lo,
        r.hi,
        r.cursor,
        r.done ? 1 : 0,
        r.recordsDone,
        r.received.count,
        r.received.h1,
        r.received.h2
      ]
    )
  const ranges: RangeCheckpoints = {
    list: (resource) =>
      sql
        .unsafe<{
          lo: string
          hi: string
          cursor: string
          done: number
          recordsDone: number
          count: number
          h1: number
          h2: number
        }>(
          `SELECT lo, hi, cursor, done, records_done AS recordsDone, received_count AS count, received_h1 AS h1,
             received_h2 AS h2 FROM backfill_ranges WHERE resource_type = ? ORDER BY lo`,
          [resource]
        )
        .pipe(
          Effect.map((rows) =>
            rows.map(({ count, h1, h2, ...r }) => ({ ...r, done: r.done === 1, received: { count, h1, h2 } }))
          ),
          Effect.mapError(storeError("sync.db", "read backfill ranges"))
        ),
    // One transaction: a split is recorded whole or not at all.
    plan: (resource, planned) =>
      sql
        .withTransaction(Effect.forEach(planned, (r) => saveRange("INSERT OR IGNORE", resource, r)))
        .pipe(Effect.asVoid, Effect.mapError(storeError("sync.db", "plan backfill ranges"))),
    save: (resource, range) =>
      saveRange("INSERT OR REPLACE", resource, range).pipe(
        Effect.asVoid,
        Effect.mapError(storeError("sync.db", "save backfill range"))
      ),
    clear: (resource) =>
      sql
        .unsafe("DELETE FROM backfill_ranges WHERE resource_type = ?", [resource])
        .pipe(Effect.asVoid, Effect.mapError(storeError("sync.db", "clear backfill ranges")))
  }

  return CheckpointStore.of({ get, save, clear, list, ranges })
})

export const layer: Layer.Layer<CheckpointStore, never, SyncDb> = Layer.effect(CheckpointStore, make)
