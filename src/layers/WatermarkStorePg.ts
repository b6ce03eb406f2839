// WatermarkStore over a hub's device_resource_watermarks on PostgreSQL. `advance` keeps the maximum in SQL,
// so no order of advances, from any process of the hub, can move a watermark back.
import { Clock, Effect, Layer, Option } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"
import { LocalDevice } from "../services/LocalDevice.js"
import { WatermarkStore, type Watermark } from "../services/WatermarkStore.js"
import { storeError } from "./Postgres.js"
import { SyncDb } from "./Sqlite.js"

export const make = Effect.gen(function* () {
  const sql = yield* SyncDb
  const { deviceId } = yield* LocalDevice

  const get = (peer: DeviceId, resource: ResourceType) =>
    sql
      .unsafe<{ w: number }>(
        `SELECT last_watermark AS w FROM device_resource_watermarks
         WHERE device_uuid = $1 AND peer_device_uuid = $2 AND resource_type = $3`,
        [deviceId, peer, resource]
      )
      .pipe(
        Effect.map((rows) => rows[0]?.w ?? 0),
        Effect.mapError(storeError("read watermark"))
      )

  const advance = (peer: DeviceId, resource: ResourceType, to: number) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      sql.unsafe(
        `INSERT INTO device_resource_watermarks AS w
           (device_uuid, peer_device_uuid, resource_type, last_watermark, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (device_uuid, peer_device_uuid, resource_type) DO UPDATE
           SET last_watermark = excluded.last_watermark, updated_at = excluded.updated_at
           WHERE excluded.last_watermark > w.last_watermark`,
        [deviceId, peer, resource, to, now]
      )
    ).pipe(Effect.asVoid, Effect.mapError(storeError("advance watermark")))

  const list = sql
    .unsafe<Watermark>(
      `SELECT peer_device_uuid AS peer, resource_type AS resource, last_watermark AS watermark,
              updated_at AS "updatedAt"
       FROM device_resource_watermarks WHERE device_uuid = $1 ORDER BY peer, resource`,
      [deviceId]
    )
    .pipe(Effect.mapError(storeError("list watermarks")))

  const peerStore = (peer: DeviceId) =>
    sql
      .unsafe<{ id: string }>("SELECT store_id AS id FROM peer_stores WHERE peer_device_uuid = $1", [peer])
      .pipe(
        Effect.map((rows) => Option.fromNullable(rows[0]?.id)),
        Effect.mapError(storeError("read peer store id"))
      )

  const forgetPeer = (peer: DeviceId) =>
    Effect.zipRight(
      sql.unsafe("DELETE FROM device_resource_watermarks WHERE device_uuid = $1 AND peer_device_uuid = $2", [
        deviceId,
        peer
      ]),
      sql.unsafe("DELETE FROM backfill_checkpoints WHERE peer_device_uuid = $1", [peer])
    )

  // The row lock (FOR UPDATE) makes two processes that meet a replaced peer store at once agree: the first
  // forgets the cursors and records the new id, the second then finds the id already known.
  const rebase = (peer: DeviceId, storeId: string) =>
    sql
      .withTransaction(
        Effect.gen(function* () {
          yield* sql.unsafe(
            "INSERT INTO peer_stores (peer_device_uuid, store_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [peer, storeId]
          )
          const [known] = yield* sql.unsafe<{ id: string }>(
            "SELECT store_id AS id FROM peer_stores WHERE peer_device_uuid = $1 FOR UPDATE",
            [peer]
          )
          if (known === undefined || known.id === storeId) return false
          yield* sql.unsafe("UPDATE peer_stores SET store_id = $2 WHERE peer_device_uuid = $1", [
            peer,
            storeId
          ])
          yield* forgetPeer(peer)
          return true
        })
      )
      .pipe(Effect.mapError(storeError("rebase watermarks")))

  const forget = (peer: DeviceId) =>
    sql
      .withTransaction(forgetPeer(peer))
      .pipe(Effect.asVoid, Effect.mapError(storeError("forget watermarks")))

  return WatermarkStore.of({ get, advance, list, peerStore, rebase, forget })
})

export const layer: Layer.Layer<WatermarkStore, never, SyncDb | LocalDevice> = Layer.effect(
  WatermarkStore,
  make
)
