// WatermarkStore over sync.db's device_resource_watermarks. `advance` keeps the maximum in SQL, so it can
// never move a watermark back, whatever order advances arrive in.
import { Clock, Effect, Layer, Option } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"
import { LocalDevice } from "../services/LocalDevice.js"
import { WatermarkStore, type Watermark } from "../services/WatermarkStore.js"
import { storeError, SyncDb } from "./Sqlite.js"

export const make = Effect.gen(function* () {
  const sql = yield* SyncDb
  const { deviceId } = yield* LocalDevice

  const get = (peer: DeviceId, resource: ResourceType) =>
    sql
      .unsafe<{ w: number }>(
        `SELECT last_watermark AS w FROM device_resource_watermarks
         WHERE device_uuid = ? AND peer_device_uuid = ? AND resource_type = ?`,
        [deviceId, peer, resource]
      )
      .pipe(
        Effect.map((rows) => rows[0]?.w ?? 0),
        Effect.mapError(storeError("sync.db", "read watermark"))
      )

  const advance = (peer: DeviceId, resource: ResourceType, to: number) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      sql.unsafe(
        `INSERT INTO device_resource_watermarks
           (device_uuid, peer_device_uuid, resource_type, last_watermark, updated_at)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (device_uuid, peer_device_uuid, resource_type) DO UPDATE
           SET last_watermark = excluded.last_watermark, updated_at = excluded.updated_at
           WHERE excluded.last_watermark > last_watermark`,
        [deviceId, peer, resource, to, now]
      )
    ).pipe(Effect.asVoid, Effect.mapError(storeError("sync.db", "advance watermark")))

  const list = sql
    .unsafe<{ peer: DeviceId; resource: ResourceType; watermark: number; updatedAt: number }>(
      `SELECT peer_device_uuid AS peer, resource_type AS resource, last_watermark AS watermark,
              updated_at AS updatedAt
       FROM device_resource_watermarks WHERE device_uuid = ? ORDER BY peer, resource`,
      [deviceId]
    )
    .pipe(
      Effect.map((rows): ReadonlyArray<Watermark> => rows),
      Effect.mapError(storeError("sync.db", "list watermarks"))
    )

  const peerStore = (peer: DeviceId) =>
    sql
      .unsafe<{ id: string }>("SELECT store_id AS id FROM peer_stores WHERE peer_device_uuid = ?", [peer])
      .pipe(
        Effect.map((rows) => Option.fromNullable(rows[0]?.id)),
        Effect.mapError(storeError("sync.db", "read peer store id"))
      )

  const forgetPeer = (peer: DeviceId) =>
    Effect.all(
      [
        sql.unsafe("DELETE FROM device_resource_watermarks WHERE device_uuid = ? AND peer_device_uuid = ?", [
          deviceId,
          peer
        ]),
        sql.unsafe("DELETE FROM backfill_checkpoints WHERE peer_device_uuid = ?", [peer]),
        sql.unsafe("UPDATE peer_stores SET seen = 0 WHERE peer_device_uuid = ?", [peer])
      ],
      { discard: true }
    )

  const rebase = (peer: DeviceId, storeId: string) =>
    sql
      .withTransaction(
        Effect.gen(function* () {
          const known = yield* sql.unsafe<{ id: string }>(
            "SELECT store_id AS id FROM peer_stores WHERE peer_device_uuid = ?",
            [peer]
          )
          yield* sql.unsafe(
            `INSERT INTO peer_stores (peer_device_uuid, store_id) VALUES (?, ?)
             ON CONFLICT (peer_device_uuid) DO UPDATE SET store_id = excluded.store_id`,
            [peer, storeId]
          )
          if (known[0] === undefined || known[0].id === storeId) return false
          yield* forgetPeer(peer)
          return true
        })
      )
      .pipe(Effect.mapError(storeError("sync.db", "rebase watermarks")))

  const forget = (peer: DeviceId) =>
    sql
      .withTransaction(forgetPeer(peer))
      .pipe(Effect.asVoid, Effect.mapError(storeError("sync.db", "forget watermarks")))

  const peerOpening = (peer: DeviceId) =>
    sql
      .unsafe<{ opening: string | null }>("SELECT opening FROM peer_stores WHERE peer_device_uuid = ?", [
        peer
      ])
      .pipe(
        Effect.map((rows) => Option.fromNullable(rows[0]?.opening)),
        Effect.mapError(storeError("sync.db", "read peer opening"))
      )

  // The peer's row exists: `rebase` wrote it at the start of the session.
  const recordOpening = (peer: DeviceId, opening: string | undefined) =>
    sql
      .unsafe("UPDATE peer_stores SET opening = ? WHERE peer_device_uuid = ?", [opening ?? null, peer])
      .pipe(Effect.asVoid, Effect.mapError(storeError("sync.db", "record peer opening")))

  const peerSeen = (peer: DeviceId) =>
    sql.unsafe<{ seen: number }>("SELECT seen FROM peer_stores WHERE peer_device_uuid = ?", [peer]).pipe(
      Effect.map((rows) => rows[0]?.seen ?? 0),
      Effect.mapError(storeError("sync.db", "read peer seen"))
    )

  const recordSeen = (peer: DeviceId, end: number) =>
    sql
      .unsafe("UPDATE peer_stores SET seen = ? WHERE peer_device_uuid = ? AND seen < ?", [end, peer, end])
      .pipe(Effect.asVoid, Effect.mapError(storeError("sync.db", "record peer seen")))

  return WatermarkStore.of({
    get,
    advance,
    list,
    peerStore,
    rebase,
    forget,
    peerOpening,
    recordOpening,
    peerSeen,
    recordSeen
  })
})

export const layer: Layer.Layer<WatermarkStore, never, SyncDb | LocalDevice> = Layer.effect(
  WatermarkStore,
  make
)
