// The stores of one device, wired in one place: database.db and sync.db in a data directory (or in memory
// for fast tests), the HLC, and the Library on top. Programs and tests start from here.
import { Context, Effect, Layer } from "effect"
import { join } from "node:path"
import type { DeviceId, LibraryId } from "../domain/Ids.js"
import * as BackfillProgress from "../services/BackfillProgress.js"
import * as ChangeFeed from "../services/ChangeFeed.js"
import { Credentials } from "../services/Credentials.js"
import * as Library from "../services/Library.js"
import * as PeerStatus from "../services/PeerStatus.js"
import * as ProgressRecord from "../services/ProgressRecord.js"
import * as SyncMetrics from "../services/SyncMetrics.js"
import * as PeerStatusSqlite from "./PeerStatusSqlite.js"
import * as SyncMetricsSqlite from "./SyncMetricsSqlite.js"
import { LocalDevice } from "../services/LocalDevice.js"
import * as CheckpointStoreMemory from "./CheckpointStoreMemory.js"
import * as CheckpointStoreSqlite from "./CheckpointStoreSqlite.js"
import * as HlcClockSqlite from "./HlcClockSqlite.js"
import * as HlcClockTest from "./HlcClockTest.js"
import * as LibraryDbSchema from "./LibraryDbSchema.js"
import * as LibraryStoreSqlite from "./LibraryStoreSqlite.js"
import * as ProgressRecordSqlite from "./ProgressRecordSqlite.js"
import * as SharedLogMemory from "./SharedLogMemory.js"
import * as SharedLogSqlite from "./SharedLogSqlite.js"
import { LibraryDb } from "./Sqlite.js"
import * as SyncDbSchema from "./SyncDbSchema.js"
import * as TransportTcp from "./TransportTcp.js"
import * as WatermarkStoreMemory from "./WatermarkStoreMemory.js"
import * as WatermarkStoreSqlite from "./WatermarkStoreSqlite.js"

export const DATABASE_FILE = "database.db"
export const SYNC_FILE = "sync.db"

export interface DeviceIdentity {
  readonly deviceId: DeviceId
  readonly libraryId: LibraryId
}

/** Every store of a device whose files live in `dataDir`, and the database.db client itself. */
export const layerSqliteWithDb = (
  dataDir: string,
  identity: DeviceIdentity,
  options?: { readonly maxDriftMillis?: number; readonly daemon?: boolean }
) => {
  const device = LocalDevice.layer(identity.deviceId, identity.libraryId)
  const syncDb = SyncDbSchema.layer(join(dataDir, SYNC_FILE))
  const clock = HlcClockSqlite.layer(options).pipe(Layer.provide(Layer.merge(syncDb, device)))
  const libraryStore = LibraryStoreSqlite.layer.pipe(
    Layer.provide(Layer.merge(clock, device)),
    Layer.provideMerge(LibraryDbSchema.layer(join(dataDir, DATABASE_FILE)))
  )
  const syncStores = Layer.mergeAll(
    WatermarkStoreSqlite.layer,
    CheckpointStoreSqlite.layer,
    SharedLogSqlite.layer,
    options?.daemon === true ? PeerStatusSqlite.layerDaemon : PeerStatusSqlite.layer,
    SyncMetricsSqlite.layer,
    ProgressRecordSqlite.layer
  ).pipe(Layer.provide(Layer.merge(syncDb, device)))
  const stores = Layer.mergeAll(
    libraryStore,
    syncStores,
    clock,
    device,
    ChangeFeed.layer,
    BackfillProgress.layerMemory
  )
  return Library.layer.pipe(Layer.provideMerge(stores))
}

type WithDb = Layer.Layer.Success<ReturnType<typeof layerSqliteWithDb>>

/** Every store of a device whose files live in `dataDir`. */
export const layerSqlite = (
  dataDir: string,
  identity: DeviceIdentity,
  options?: { readonly maxDriftMillis?: number }
) =>
  Layer.effectContext(Effect.map(Effect.context<WithDb>(), Context.omit(LibraryDb))).pipe(
    Layer.provide(layerSqliteWithDb(dataDir, identity, options))
  )

/** The same device with database.db in memory and the coordination stores in memory: for fast tests. */
export const layerMemory = (identity: DeviceIdentity, options?: { readonly startMillis?: number }) => {
  const device = LocalDevice.layer(identity.deviceId, identity.libraryId)
  const clock = HlcClockTest.layer({ device: identity.deviceId, ...options })
  const libraryStore = LibraryStoreSqlite.layer.pipe(
    Layer.provide(Layer.mergeAll(LibraryDbSchema.layer(":memory:"), clock, device))
  )
  const stores = Layer.mergeAll(
    libraryStore,
    WatermarkStoreMemory.layer,
    CheckpointStoreMemory.layer,
    SharedLogMemory.layer,
    PeerStatus.layer,
    SyncMetrics.layerMemory,
    ProgressRecord.layerMemory,
    clock,
    device,
    ChangeFeed.layer,
    BackfillProgress.layerMemory
  )
  return Library.layer.pipe(Layer.provideMerge(stores))
}

/** A device run from its data directory over TCP: the stores, its credentials and the TCP transport. */
export const layerDataDir = (
  dataDir: string,
  identity: DeviceIdentity & { readonly secret: string },
  options?: { readonly maxDriftMillis?: number; readonly transport?: TransportTcp.TransportTcpOptions }
) =>
  Layer.merge(
    layerSqliteWithDb(dataDir, identity, { ...options, daemon: true }),
    TransportTcp.layer(options?.transport).pipe(Layer.provide(Credentials.layer(identity)))
  )
