// PeerStatus of a hub on PostgreSQL (peers). Several processes serve the hub, so a process that starts does
// not reset the connection counts: they belong to the processes still running as much as to this one.
import { Clock, Effect, Layer } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import { type PeerInfo, PeerStatus } from "../services/PeerStatus.js"
import { SyncDb } from "./Sqlite.js"

/** "Last seen" is written at most this often per peer (it is touched by every request). */
const SEEN_WRITE_INTERVAL_MILLIS = 1_000

export const make = Effect.gen(function* () {
  const sql = yield* SyncDb
  const lastWritten = new Map<DeviceId, number>()
  const logged = <A, E>(what: string, effect: Effect.Effect<A, E>) =>
    effect.pipe(
      Effect.asVoid,
      Effect.catchAll((e) =>
        Effect.logWarning(`Could not record peer ${what}: ${String((e as Error).message ?? e)}`)
      )
    )

  const connected = (peer: DeviceId, address: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      logged(
        "connection",
        sql.unsafe(
          `INSERT INTO peers AS p (peer_device_uuid, address, connections, last_seen, last_error)
           VALUES ($1, $2, 1, $3, NULL)
           ON CONFLICT (peer_device_uuid) DO UPDATE SET address = excluded.address,
             connections = p.connections + 1, last_seen = excluded.last_seen, last_error = NULL`,
          [peer, address, now]
        )
      )
    )

  const disconnected = (peer: DeviceId, address: string, error?: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      logged(
        "disconnection",
        sql.unsafe(
          `INSERT INTO peers AS p (peer_device_uuid, address, connections, last_seen, last_error)
           VALUES ($1, $2, 0, $3, $4)
           ON CONFLICT (peer_device_uuid) DO UPDATE SET connections = GREATEST(0, p.connections - 1),
             last_seen = excluded.last_seen, last_error = coalesce(excluded.last_error, p.last_error)`,
          [peer, address, now, error ?? null]
        )
      )
    )

  const seen = (peer: DeviceId) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      if (now - (lastWritten.get(peer) ?? 0) < SEEN_WRITE_INTERVAL_MILLIS) return Effect.void
      lastWritten.set(peer, now)
      return logged(
        "activity",
        sql.unsafe("UPDATE peers SET last_seen = $1 WHERE peer_device_uuid = $2", [now, peer])
      )
    })

  const list = sql
    .unsafe<PeerInfo>(
      `SELECT peer_device_uuid AS peer, address, connections, last_seen AS "lastSeen", last_error AS "lastError"
       FROM peers ORDER BY peer_device_uuid`
    )
    .pipe(
      Effect.catchAll((e) =>
        Effect.as(Effect.logWarning(`Could not read peers: ${e.message}`), [] as ReadonlyArray<PeerInfo>)
      )
    )

  return PeerStatus.of({ connected, disconnected, seen, list })
})

export const layer: Layer.Layer<PeerStatus, never, SyncDb> = Layer.effect(PeerStatus, make)
