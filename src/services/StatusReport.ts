// What `status --json` prints and the daemon's /status serves: one report built from the stores, so the
// two always agree. Progress of a backfill comes from BackfillProgress for the streams this process runs (the
// daemon), and from the sync.db checkpoint for the others (a backfill paused while its peer is away, or
// every backfill when the CLI asks from another process): done / total, the rate since it started, and the
// time left at that rate.
import { Clock, Context, Effect } from "effect"
import type { DeviceId, LibraryId } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"
import { type Backfill, BackfillProgress, byPeerAndKind, estimate } from "./BackfillProgress.js"
import { type Checkpoint, CheckpointStore } from "./CheckpointStore.js"
import { LocalDevice } from "./LocalDevice.js"
import { PeerStatus } from "./PeerStatus.js"
import { SyncMetrics } from "./SyncMetrics.js"
import { WatermarkStore } from "./WatermarkStore.js"

/** An unfinished backfill as status shows it: done, total, rate, time left (see BackfillProgress). */
export type Progress = Omit<Backfill, "caughtUp">

/**
 * Where the device keeps its data, as status shows it: its data directory, memory, the application's
 * SqlClient (with sync.db in `syncDirectory`), or a PostgreSQL schema (a hub), whose `database` is the
 * connection URL with its password replaced by `***`.
 */
export type StorageReport =
  | { readonly kind: "directory"; readonly path: string }
  | { readonly kind: "memory" }
  | { readonly kind: "client"; readonly prefix: string; readonly syncDirectory: string }
  | { readonly kind: "postgres"; readonly database: string; readonly schema: string }

/** The storage the device's stores were opened on, for the status report. */
export class DeviceStorage extends Context.Tag("tidemark/DeviceStorage")<DeviceStorage, StorageReport>() {}

/**
 * A device's sync state: where it keeps its data, peers, watermarks per (peer, kind), unfinished backfills,
 * counters per peer.
 */
export interface StatusReport {
  readonly deviceId: DeviceId
  readonly libraryId: LibraryId
  readonly storage: StorageReport
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

const fromRunning = (b: Backfill): Progress => ({
  peer: b.peer,
  resource: b.resource,
  done: b.done,
  total: b.total,
  rate: Math.round(b.rate),
  etaSeconds: b.etaSeconds === null ? null : Math.round(b.etaSeconds),
  updatedAt: b.updatedAt
})

const fromCheckpoint = (c: Checkpoint, now: number): Progress => {
  const { rate, secondsLeft } = estimate(
    { done: c.recordsDone, total: c.totalExpected, startedAt: c.startedAt, startedDone: c.startedDone },
    Math.max(c.updatedAt, now)
  )
  return {
    peer: c.peer,
    resource: c.resource,
    done: c.recordsDone,
    total: c.totalExpected,
    rate: Math.round(rate),
    etaSeconds: secondsLeft === null ? null : Math.round(secondsLeft),
    updatedAt: c.updatedAt
  }
}

/**
 * The unfinished backfills, by peer and kind: those a stream of this process has reported on (a caught-up one
 * is finished), and those only sync.db knows of.
 */
const backfillOf = (
  running: ReadonlyArray<Backfill>,
  checkpoints: ReadonlyArray<Checkpoint>,
  now: number
): ReadonlyArray<Progress> => {
  const reported = new Set(running.map((b) => `${b.peer}/${b.resource}`))
  return [
    ...running.filter((b) => !b.caughtUp).map(fromRunning),
    ...checkpoints.filter((c) => !reported.has(`${c.peer}/${c.resource}`)).map((c) => fromCheckpoint(c, now))
  ].sort(byPeerAndKind)
}

export const make = Effect.gen(function* () {
  const { deviceId, libraryId } = yield* LocalDevice
  const storage = yield* DeviceStorage
  const peers = yield* Effect.flatMap(PeerStatus, (s) => s.list)
  const watermarks = yield* Effect.flatMap(WatermarkStore, (s) => s.list)
  const checkpoints = yield* Effect.flatMap(CheckpointStore, (s) => s.list)
  const running = yield* Effect.flatMap(BackfillProgress, (p) => p.get)
  const counters = yield* Effect.flatMap(SyncMetrics, (s) => s.counters)
  const now = yield* Clock.currentTimeMillis
  const countersByPeer = [...counters.entries()].map(([peer, c]) => ({ peer, ...c }))
  const sum = (k: "recordsReceived" | "bytesReceived" | "recordsSent" | "bytesSent") =>
    countersByPeer.reduce((n, c) => n + c[k], 0)
  return {
    deviceId,
    libraryId,
    storage,
    peers: peers.map((p) => ({
      deviceId: p.peer,
      address: p.address,
      connected: p.connections > 0,
      lastSeen: p.lastSeen,
      lastError: p.lastError
    })),
    watermarks: watermarks.map(({ peer, resource, watermark }) => ({ peer, resource, watermark })),
    backfill: backfillOf(running, checkpoints, now),
    counters: {
      recordsReceived: sum("recordsReceived"),
      bytesReceived: sum("bytesReceived"),
      recordsSent: sum("recordsSent"),
      bytesSent: sum("bytesSent")
    },
    countersByPeer
  } satisfies StatusReport
})
