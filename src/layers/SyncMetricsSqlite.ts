// SyncMetrics persisted in sync.db (peer_counters), so counters survive restarts. Received counts are written
// when they are counted, inside the page's progress transaction (ProgressRecord). Sent counts are added up in
// memory and written at most once a second, off the answer's path: serving a page costs no sync.db write of
// its own (it was one transaction per page served, on every live write). They are written when the layer
// closes too, and `counters` adds what is not written yet; a crash loses at most that second's sent counts,
// which only observability reads.
import { Effect, Layer } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import { type PeerCounters, SyncMetrics } from "../services/SyncMetrics.js"
import { storeError, SyncDb } from "./Sqlite.js"

/** How long sent counts wait in memory before they are written. */
export const SENT_WRITE_DELAY_MILLIS = 1_000

/** SyncMetrics over sync.db; the sent counts not written yet are written when its scope closes. */
export const make = Effect.gen(function* () {
  const sql = yield* SyncDb
  const scope = yield* Effect.scope
  const add = (peer: DeviceId, column: "received" | "sent", records: number, bytes: number) =>
    sql
      .unsafe(
        `INSERT INTO peer_counters (peer_device_uuid, records_${column}, bytes_${column}) VALUES (?, ?, ?)
         ON CONFLICT (peer_device_uuid) DO UPDATE SET records_${column} = records_${column} + excluded.records_${column},
           bytes_${column} = bytes_${column} + excluded.bytes_${column}`,
        [peer, records, bytes]
      )
      .pipe(Effect.asVoid, Effect.mapError(storeError("sync.db", `count rows ${column}`)))

  /** Sent counts not written yet, per peer. */
  const unwritten = new Map<DeviceId, { records: number; bytes: number }>()
  let writeScheduled = false
  // Counters are observability: losing one increment of what we served must not stop serving, but it is
  // logged. Uninterruptible: the counts leave memory as they are written.
  const writeSent = Effect.uninterruptible(
    Effect.suspend(() => {
      writeScheduled = false
      const counts = [...unwritten]
      unwritten.clear()
      return Effect.forEach(
        counts,
        ([peer, c]) =>
          add(peer, "sent", c.records, c.bytes).pipe(
            Effect.catchAll((e) => Effect.logWarning(`Could not update sync counters: ${e.message}`))
          ),
        { discard: true }
      )
    })
  )
  yield* Effect.addFinalizer(() => writeSent)

  return SyncMetrics.of({
    received: (peer, records, bytes) => add(peer, "received", records, bytes),
    sent: (peer, records, bytes) =>
      Effect.suspend(() => {
        const c = unwritten.get(peer)
        unwritten.set(peer, { records: (c?.records ?? 0) + records, bytes: (c?.bytes ?? 0) + bytes })
        if (writeScheduled) return Effect.void
        writeScheduled = true
        return Effect.asVoid(Effect.forkIn(Effect.delay(writeSent, SENT_WRITE_DELAY_MILLIS), scope))
      }),
    counters: sql
      .unsafe<{ peer: DeviceId } & PeerCounters>(
        `SELECT peer_device_uuid AS peer, records_received AS recordsReceived, bytes_received AS bytesReceived,
           records_sent AS recordsSent, bytes_sent AS bytesSent FROM peer_counters`
      )
      .pipe(
        Effect.map((rows) => {
          const counters = new Map<DeviceId, PeerCounters>(rows.map(({ peer, ...c }) => [peer, c]))
          for (const [peer, c] of unwritten) {
            const held = counters.get(peer) ?? {
              recordsReceived: 0,
              bytesReceived: 0,
              recordsSent: 0,
              bytesSent: 0
            }
            counters.set(peer, {
              ...held,
              recordsSent: held.recordsSent + c.records,
              bytesSent: held.bytesSent + c.bytes
            })
          }
          return counters as ReadonlyMap<DeviceId, PeerCounters>
        }),
        Effect.catchAll((e) =>
          Effect.as(
            Effect.logWarning(`Could not read sync counters: ${e.message}`),
            new Map<DeviceId, PeerCounters>()
          )
        )
      )
  })
})

/** SyncMetrics over sync.db, scoped: closing it writes the sent counts still in memory. */
export const layer: Layer.Layer<SyncMetrics, never, SyncDb> = Layer.scoped(SyncMetrics, make)
