// What `status --json` prints and the daemon's /status serves: one report built from the stores, so the
// two always agree. Progress of a backfill comes from its checkpoint: done / total, the rate since it
// started, and the time left at that rate.
import { Clock, Effect } from "effect"
import type { DeviceId, LibraryId } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"
import { CheckpointStore } from "./CheckpointStore.js"
import { LocalDevice } from "./LocalDevice.js"
import { PeerStatus } from "./PeerStatus.js"
import { SyncMetrics } from "./SyncMetrics.js"
import { WatermarkStore } from "./WatermarkStore.js"

export interface Progress {
  readonly peer: DeviceId
  readonly resource: ResourceType
  readonly done: number
  readonly total: number
  /** Records per second since this backfill started (0 when unknown). */
  readonly rate: number
  /** Seconds left at that rate (null when unknown). */
  readonly etaSeconds: number | null
  readonly updatedAt: number
}

export interface StatusReport {
  readonly deviceId: DeviceId
  readonly libraryId: LibraryId
  readonly peers: ReadonlyArray<{
    readonly deviceId: DeviceId
    readonly address: string
    readonly connected: boolean
    readonly lastSeen: number
    readonly lastError: string | null
  }>
  readonly watermarks: ReadonlyArray<{
    readonly peer: DeviceId
    readonly resource: ResourceType
    readonly watermark: number
  }>
  readonly backfill: ReadonlyArray<Progress>
  readonly counters: {
    readonly recordsReceived: number
    readonly bytesReceived: number
    readonly recordsSent: number
    readonly bytesSent: number
  }
  readonly countersByPeer: ReadonlyArray<{
    readonly peer: DeviceId
    readonly recordsReceived: number
    readonly bytesReceived: number
    readonly recordsSent: number
    readonly bytesSent: number
  }>
}

export const make = Effect.gen(function* () {
  const { deviceId, libraryId } = yield* LocalDevice
  const peers = yield* Effect.flatMap(PeerStatus, (s) => s.list)
  const watermarks = yield* Effect.flatMap(WatermarkStore, (s) => s.list)
  const checkpoints = yield* Effect.flatMap(CheckpointStore, (s) => s.list)
  const counters = yield* Effect.flatMap(SyncMetrics, (s) => s.counters)
  const now = yield* Clock.currentTimeMillis
  const countersByPeer = [...counters.entries()].map(([peer, c]) => ({ peer, ...c }))
  const sum = (k: "recordsReceived" | "bytesReceived" | "recordsSent" | "bytesSent") =>
    countersByPeer.reduce((n, c) => n + c[k], 0)
  return {
    deviceId,
    libraryId,
    peers: peers.map((p) => ({
      deviceId: p.peer,
      address: p.address,
      connected: p.connections > 0,
      lastSeen: p.lastSeen,
      lastError: p.lastError
    })),
    watermarks: watermarks.map(({ peer, resource, watermark }) => ({ peer, resource, watermark })),
    backfill: checkpoints.map((c): Progress => {
      const seconds = (Math.max(c.updatedAt, now) - c.startedAt) / 1000
      const rate = seconds > 0 ? (c.recordsDone - c.startedDone) / seconds : 0
      const left = Math.max(0, c.totalExpected - c.recordsDone)
      return {
        peer: c.peer,
        resource: c.resource,
        done: c.recordsDone,
        total: c.totalExpected,
        rate: Math.round(rate),
        etaSeconds: rate > 0 ? Math.round(left / rate) : null,
        updatedAt: c.updatedAt
      }
    }),
    counters: {
      recordsReceived: sum("recordsReceived"),
      bytesReceived: sum("bytesReceived"),
      recordsSent: sum("recordsSent"),
      bytesSent: sum("bytesSent")
    },
    countersByPeer
  } satisfies StatusReport
})
