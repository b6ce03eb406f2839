// PeerStatus of a hub on PostgreSQL (peers, peer_connections). Several processes serve the hub, so a process
// that starts cannot reset the connection counts as a SQLite device does: they belong to the processes still
// running as much as to this one. Each process counts its own connections in a row of its own, named by its
// sessions' application_name (Postgres.ts), and a count is read only while that process still has a session
// on the server: a process killed with SIGKILL loses its sessions, and with them its count, at once.
import { Clock, Effect, Layer } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import { type PeerInfo, PeerStatus } from "../services/PeerStatus.js"
import { APPLICATION_PREFIX } from "./Postgres.js"
import { SyncDb } from "./Sqlite.js"

/** "Last seen" is written at most this often per peer (it is touched by every request). */
const SEEN_WRITE_INTERVAL_MILLIS = 1_000

/** The processes that still have a session, by application_name. */
const LIVE_PROCESSES = `SELECT application_name FROM pg_stat_activity WHERE application_name LIKE '${APPLICATION_PREFIX}%'`

export const make = Effect.gen(function* () {
  const sql = yield* SyncDb
  const [self] = yield* sql
    .unsafe<{ name: string }>("SELECT current_setting('application_name') AS name")
    .pipe(Effect.orElseSucceed(() => [{ name: "" }]))
  const processName = self?.name ?? ""
  const lastWritten = new Map<DeviceId, number>()
  const logged = <A, E>(what: string, effect: Effect.Effect<A, E>) =>
    effect.pipe(
      Effect.asVoid,
      Effect.catchAll((e) =>
        Effect.logWarning(`Could not record peer ${what}: ${String((e as Error).message ?? e)}`)
      )
    )

  // Rows of processes gone since: nothing reads them, so they go.
  yield* logged(
    "state on start",
    sql.unsafe(`DELETE FROM peer_connections WHERE process NOT IN (${LIVE_PROCESSES})`)
  )

  const connected = (peer: DeviceId, address: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      logged(
        "connection",
        sql.unsafe(
          `WITH seen AS (
             INSERT INTO peers AS p (peer_device_uuid, address, connections, last_seen, last_error)
             VALUES ($1, $2, 0, $3, NULL)
             ON CONFLICT (peer_device_uuid) DO UPDATE SET address = excluded.address,
               last_seen = excluded.last_seen, last_error = NULL)
           INSERT INTO peer_connections AS c (peer_device_uuid, process, connections) VALUES ($1, $4, 1)
           ON CONFLICT (peer_device_uuid, process) DO UPDATE SET connections = c.connections + 1`,
          [peer, address, now, processName]
        )
      )
    )

  const disconnected = (peer: DeviceId, address: string, error?: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      logged(
        "disconnection",
        sql.unsafe(
          `WITH seen AS (
             INSERT INTO peers AS p (peer_device_uuid, address, connections, last_seen, last_error)
             VALUES ($1, $2, 0, $3, $4)
             ON CONFLICT (peer_device_uuid) DO UPDATE SET last_seen = excluded.last_seen,
               last_error = coalesce(excluded.last_error, p.last_error))
           UPDATE peer_connections SET connections = GREATEST(0, connections - 1)
           WHERE peer_device_uuid = $1 AND process = $5`,
          [peer, address, now, error ?? null, processName]
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
      `SELECT p.peer_device_uuid AS peer, p.address, last_seen AS "lastSeen", last_error AS "lastError",
         coalesce((SELECT sum(c.connections) FROM peer_connections c
                   WHERE c.peer_device_uuid = p.peer_device_uuid AND c.process IN (${LIVE_PROCESSES})), 0)::bigint
           AS connections
       FROM peers p ORDER BY p.peer_device_uuid`
    )
    .pipe(
      Effect.catchAll((e) =>
        Effect.as(Effect.logWarning(`Could not read peers: ${e.message}`), [] as ReadonlyArray<PeerInfo>)
      )
    )

  return PeerStatus.of({ connected, disconnected, seen, list })
})

export const layer: Layer.Layer<PeerStatus, never, SyncDb> = Layer.effect(PeerStatus, make)
