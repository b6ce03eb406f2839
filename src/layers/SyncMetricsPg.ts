// SyncMetrics of a hub on PostgreSQL (peer_counters): every process of the hub adds to the same counters.
import { Effect, Layer } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import { type PeerCounters, SyncMetrics } from "../services/SyncMetrics.js"
import { storeError } from "./Postgres.js"
import { SyncDb } from "./Sqlite.js"

export const make = Effect.gen(function* () {
  const sql = yield* SyncDb
  const add = (peer: DeviceId, column: "received" | "sent", records: number, bytes: number) =>
    sql
      .unsafe(
        `INSERT INTO peer_counters AS c (peer_device_uuid, records_${column}, bytes_${column}) VALUES ($1, $2, $3)
         ON CONFLICT (peer_device_uuid) DO UPDATE SET records_${column} = c.records_${column} + excluded.records_${column},
           bytes_${column} = c.bytes_${column} + excluded.bytes_${column}`,
        [peer, records, bytes]
      )
      .pipe(Effect.asVoid, Effect.mapError(storeError(`count rows ${column}`)))
  return SyncMetrics.of({
    received: (peer, records, bytes) => add(peer, "received", records, bytes),
    // Counters are observability: losing one increment of what we served must not stop serving (logged).
    sent: (peer, records, bytes) =>
      add(peer, "sent", records, bytes).pipe(
        Effect.catchAll((e) => Effect.logWarning(`Could not update sync counters: ${e.message}`))
      ),
    counters: sql
      .unsafe<{ peer: DeviceId } & PeerCounters>(
        `SELECT peer_device_uuid AS peer, records_received AS "recordsReceived", bytes_received AS "bytesReceived",
           records_sent AS "recordsSent", bytes_sent AS "bytesSent" FROM peer_counters`
      )
      .pipe(
        Effect.map((rows) => new Map(rows.map(({ peer, ...c }) => [peer, c]))),
        Effect.catchAll((e) =>
          Effect.as(
            Effect.logWarning(`Could not read sync counters: ${e.message}`),
            new Map<DeviceId, PeerCounters>()
          )
        )
      )
  })
})

export const layer: Layer.Layer<SyncMetrics, never, SyncDb> = Layer.effect(SyncMetrics, make)
