// CheckpointStore over a hub's backfill_checkpoints on PostgreSQL.
import { Clock, Effect, Layer, Option } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"
import { type Checkpoint, type CheckpointProgress, CheckpointStore } from "../services/CheckpointStore.js"
import { storeError } from "./Postgres.js"
import { SyncDb } from "./Sqlite.js"

const columns = `peer_device_uuid AS peer, resource_type AS resource, cursor, records_done AS "recordsDone",
  total_expected AS "totalExpected", log_start AS "logStart", started_at AS "startedAt",
  started_done AS "startedDone", updated_at AS "updatedAt"`

export const make = Effect.gen(function* () {
  const sql = yield* SyncDb

  const get = (peer: DeviceId, resource: ResourceType) =>
    sql
      .unsafe<Checkpoint>(
        `SELECT ${columns} FROM backfill_checkpoints WHERE peer_device_uuid = $1 AND resource_type = $2`,
        [peer, resource]
      )
      .pipe(
        Effect.map((rows) => Option.fromNullable(rows[0])),
        Effect.mapError(storeError("read checkpoint"))
      )

  const save = (peer: DeviceId, resource: ResourceType, p: CheckpointProgress) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      sql.unsafe(
        `INSERT INTO backfill_checkpoints
           (peer_device_uuid, resource_type, cursor, records_done, total_expected, log_start, started_at,
            started_done, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (peer_device_uuid, resource_type) DO UPDATE SET cursor = excluded.cursor,
           records_done = excluded.records_done, total_expected = excluded.total_expected,
           log_start = excluded.log_start, updated_at = excluded.updated_at`,
        [peer, resource, p.cursor, p.recordsDone, p.totalExpected, p.logStart, now, p.recordsDone, now]
      )
    ).pipe(Effect.asVoid, Effect.mapError(storeError("save checkpoint")))

  const clear = (peer: DeviceId, resource: ResourceType) =>
    sql
      .unsafe("DELETE FROM backfill_checkpoints WHERE peer_device_uuid = $1 AND resource_type = $2", [
        peer,
        resource
      ])
      .pipe(Effect.asVoid, Effect.mapError(storeError("clear checkpoint")))

  const list = sql
    .unsafe<Checkpoint>(`SELECT ${columns} FROM backfill_checkpoints ORDER BY peer, resource`)
    .pipe(Effect.mapError(storeError("list checkpoints")))

  return CheckpointStore.of({ get, save, clear, list })
})

export const layer: Layer.Layer<CheckpointStore, never, SyncDb> = Layer.effect(CheckpointStore, make)
