// SyncMetrics persisted in sync.db (peer_counters), so counters survive restarts.
import { Effect, Layer } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import { type PeerCounters, SyncMetrics } from "../services/SyncMetrics.js"
import { storeError, SyncDb } from "./Sqlite.js"

export const make = Effect.gen(function* () {
  const sql = yield* SyncDb
  const add = (peer: DeviceId, column: "received" | "sent", records: number, bytes: number) =>
    sql
      .unsafe(
        `INSERT INTO peer_counters (peer_device_uuid, records_${column}, bytes_${column}) VALUES (?, ?, ?)
         ON CONFLICT (peer_device_uuid) DO UPDATE SET records_${column} = records_${column} + excluded.records_${column},
           bytes_${column} = bytes_${column} + excluded.bytes_${column}`,
        [peer, records, bytes]
      )
      .pipe(Effect.asVoid, Effect.mapError(storeError("sync.db", `count rows ${column}`)))
  return SyncMetrics.of({
    received: (peer, records, bytes) => add(peer, "received", records, bytes),
    // Counters are observability: losing one increment of what we served must not stop serving, but it is
    // logged.
    sent: (peer, records, bytes) =>
      add(peer, "sent", records, bytes).pipe(
        Effect.catchAll((e) => Effect.logWarning(`Could not update sync counters: ${e.message}`))
      ),
    counters: sql
      .unsafe<{ peer: DeviceId } & PeerCounters>(
        `SELECT peer_device_uuid AS peer, records_received AS recordsReceived, bytes_received AS bytesReceived,
           records_sent AS recordsSent, bytes_sent AS bytesSent FROM peer_counters`
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
