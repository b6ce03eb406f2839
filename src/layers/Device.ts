// The stores of one device, wired in one place: database.db and sync.db in a data directory (or in memory
// for fast tests), the HLC, and the Library on top. Programs and tests start from here.
import { Context, Effect, Layer } from "effect"
import { join } from "node:path"
import type { DeviceId, LibraryId } from "../domain/Ids.js"
import * as BackfillProgress from "../services/BackfillProgress.js"
import * as ChangeFeed from "../services/ChangeFeed.js"
import * as Changes from "../services/Changes.js"
import { Credentials } from "../services/Credentials.js"
import * as Library from "../services/Library.js"
import * as PeerStatus from "../services/PeerStatus.js"
import * as ProgressRecord from "../services/ProgressRecord.js"
import * as SyncMetrics from "../services/SyncMetrics.js"
import * as PeerStatusSqlite from "./PeerStatusSqlite.js"
import * as SyncMetricsSqlite from "./SyncMetricsSqlite.js"
import { LocalDevice } from "../services/LocalDevice.js"
import type { HlcClock } from "../services/HlcClock.js"
import type { CheckpointStore } from "../services/CheckpointStore.js"
import type { LibraryStore } from "../services/LibraryStore.js"
import type { SharedLog } from "../services/SharedLog.js"
import type { WatermarkStore } from "../services/WatermarkStore.js"
import { Kinds } from "../services/Kinds.js"
import type { Catalog } from "../domain/Catalog.js"
import { FileLibraryCatalog } from "../domain/FileLibrary.js"
import type { TableNames } from "./LibraryDbSchema.js"
import * as CheckpointStoreMemory from "./CheckpointStoreMemory.js"
import * as CheckpointStoreSqlite from "./CheckpointStoreSqlite.js"
import * as ClockStateSqlite from "./ClockStateSqlite.js"
import * as HlcClockSqlite from "./HlcClockSqlite.js"
import * as HlcClockMemory from "./HlcClockMemory.js"
import * as HlcClockTest from "./HlcClockTest.js"
import * as LibraryDbSchema from "./LibraryDbSchema.js"
import * as LibraryStoreSqlite from "./LibraryStoreSqlite.js"
import * as Hub from "./Hub.js"
import * as ProgressRecordSqlite from "./ProgressRecordSqlite.js"
import * as SharedLogMemory from "./SharedLogMemory.js"
import * as SharedLogSqlite from "./SharedLogSqlite.js"
import { LibraryDb, type SyncDb } from "./Sqlite.js"
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

/** Which kinds the device syncs and how its tables in database.db are named. */
export interface DeviceSchema {
  /** Default: the file library. */
  readonly kinds?: Catalog
  /** Default: no prefix. */
  readonly tables?: TableNames
}

const kindsLayer = (options?: DeviceSchema) => Layer.succeed(Kinds, options?.kinds ?? FileLibraryCatalog)

/** Layers a caller may put in place of a device's own (an application's `Tidemark.layer` options). */
export interface Overrides {
  readonly clock?: Layer.Layer<HlcClock, never, LocalDevice>
  readonly watermarks?: Layer.Layer<WatermarkStore>
  readonly checkpoints?: Layer.Layer<CheckpointStore>
}

/** The coordination stores a device's `syncStores` part provides. */
export type SyncStores =
  | WatermarkStore
  | CheckpointStore
  | SharedLog
  | PeerStatus.PeerStatus
  | SyncMetrics.SyncMetrics
  | ProgressRecord.ProgressRecord

/**
 * A device from its parts: who it is and which kinds it syncs, its clock, its database.db client, and its
 * coordination stores. The Library and the change feeds go on top; overrides replace the parts they name.
 * (Exported for the simulator, which opens the SQLite clients itself so that they outlive a crash.)
 */
export const assemble = <E1, E2, E3, R1, R2, R3, Extra, ExtraSync = never>(parts: {
  readonly device: Layer.Layer<LocalDevice | Kinds>
  readonly clock: Layer.Layer<HlcClock | Extra, E1, R1>
  readonly libraryDb: Layer.Layer<LibraryDb, E2, Kinds | R2>
  readonly syncStores: Layer.Layer<SyncStores | ExtraSync, E3, R3>
  readonly tables: TableNames | undefined
  readonly overrides: Overrides | undefined
  /** The LibraryStore over database.db (default: LibraryStoreSqlite); the simulator's broken variants wrap it. */
  readonly libraryStore?: Layer.Layer<LibraryStore, never, LibraryDb | HlcClock | LocalDevice | Kinds>
}) => {
  const clock =
    parts.overrides?.clock === undefined
      ? parts.clock
      : Layer.merge(parts.clock, parts.overrides.clock.pipe(Layer.provide(parts.device)))
  const libraryStore = (parts.libraryStore ?? LibraryStoreSqlite.layer(parts.tables)).pipe(
    Layer.provide(Layer.merge(clock, parts.device)),
    Layer.provideMerge(parts.libraryDb.pipe(Layer.provide(parts.device)))
  )
  const syncStores = Layer.mergeAll(
    parts.syncStores,
    parts.overrides?.watermarks ?? Layer.empty,
    parts.overrides?.checkpoints ?? Layer.empty
  )
  const stores = Layer.mergeAll(
    libraryStore,
    syncStores,
    clock,
    parts.device,
    ChangeFeed.layer.pipe(Layer.provide(parts.device)),
    Changes.layer,
    BackfillProgress.layerMemory
  )
  return Library.layer.pipe(Layer.provideMerge(stores))
}

/** The coordination stores in sync.db. `daemon`: this process keeps the peer connection table. */
export const sqliteSyncStores = <E>(
  syncDb: Layer.Layer<SyncDb, E>,
  device: Layer.Layer<LocalDevice | Kinds>,
  daemon: boolean
) =>
  Layer.mergeAll(
    WatermarkStoreSqlite.layer,
    CheckpointStoreSqlite.layer,
    SharedLogSqlite.layer,
    daemon ? PeerStatusSqlite.layerDaemon : PeerStatusSqlite.layer,
    SyncMetricsSqlite.layer,
    ProgressRecordSqlite.layer,
    ClockStateSqlite.layer
  ).pipe(Layer.provide(Layer.merge(syncDb, device)))

/** Every store of a device whose files live in `dataDir`, and the database.db client itself. */
export const layerSqliteWithDb = (
  dataDir: string,
  identity: DeviceIdentity,
  options?: {
    readonly maxDriftMillis?: number
    readonly daemon?: boolean
    readonly overrides?: Overrides
  } & DeviceSchema
) => {
  const device = Layer.merge(LocalDevice.layer(identity.deviceId, identity.libraryId), kindsLayer(options))
  const syncDb = SyncDbSchema.layer(join(dataDir, SYNC_FILE))
  return assemble({
    device,
    clock: HlcClockSqlite.layer(options).pipe(Layer.provide(Layer.merge(syncDb, device))),
    libraryDb: LibraryDbSchema.layer(join(dataDir, DATABASE_FILE), options?.tables),
    syncStores: sqliteSyncStores(syncDb, device, options?.daemon === true),
    tables: options?.tables,
    overrides: options?.overrides
  })
}

/**
 * A device whose domain tables live in the application's own SqlClient (named with `tables.prefix`) and
 * whose coordination state lives in sync.db in `syncDir`.
 */
export const layerClient = (
  syncDir: string,
  identity: DeviceIdentity,
  options: { readonly overrides?: Overrides; readonly tables: TableNames } & DeviceSchema
) => {
  const device = Layer.merge(LocalDevice.layer(identity.deviceId, identity.libraryId), kindsLayer(options))
  const syncDb = SyncDbSchema.layer(join(syncDir, SYNC_FILE))
  return assemble({
    device,
    clock: HlcClockSqlite.layer().pipe(Layer.provide(Layer.merge(syncDb, device))),
    libraryDb: LibraryDbSchema.layerClient(options.tables),
    syncStores: sqliteSyncStores(syncDb, device, true),
    tables: options.tables,
    overrides: options.overrides
  })
}

/**
 * A hub: every store of the device in one schema of a PostgreSQL database, which several processes may serve
 * at once (see Hub.ts for what keeps them consistent). The device's identity stays with the caller.
 */
export const layerPostgres = (
  location: Hub.PostgresLocation,
  identity: DeviceIdentity,
  options?: { readonly maxDriftMillis?: number; readonly overrides?: Overrides } & Omit<
    DeviceSchema,
    "tables"
  >
) => {
  const device = Layer.merge(LocalDevice.layer(identity.deviceId, identity.libraryId), kindsLayer(options))
  const storage = Hub.storage(location).pipe(Layer.provide(device))
  return assemble({
    device,
    clock: Hub.clock(options).pipe(Layer.provide(Layer.merge(storage, device))),
    libraryDb: storage,
    syncStores: Hub.syncStores.pipe(Layer.provide(Layer.merge(storage, device))),
    tables: undefined,
    overrides: options?.overrides,
    libraryStore: Hub.libraryStore
  })
}

/** A hub process over TCP: its stores in a PostgreSQL schema (`layerPostgres`), its credentials, TCP. */
export const layerHub = (
  location: Hub.PostgresLocation,
  identity: DeviceIdentity & { readonly secret: string },
  options?: DeviceSchema
) =>
  Layer.merge(
    layerPostgres(location, identity, options),
    TransportTcp.layer().pipe(Layer.provide(Credentials.layer(identity)))
  )

/** The stores of a device kept in memory (database.db is a SQLite database in memory), on the real clock. */
export const layerInMemory = (
  identity: DeviceIdentity,
  options?: { readonly overrides?: Overrides } & DeviceSchema
) =>
  assemble({
    device: Layer.merge(LocalDevice.layer(identity.deviceId, identity.libraryId), kindsLayer(options)),
    clock: HlcClockMemory.layer.pipe(Layer.provide(LocalDevice.layer(identity.deviceId, identity.libraryId))),
    libraryDb: LibraryDbSchema.layer(":memory:", options?.tables),
    syncStores: memorySyncStores,
    tables: options?.tables,
    overrides: options?.overrides
  })

const memorySyncStores = Layer.mergeAll(
  // One CheckpointStore, shared with the WatermarkStore that clears a forgotten peer's checkpoints.
  WatermarkStoreMemory.layer.pipe(Layer.provideMerge(CheckpointStoreMemory.layer)),
  SharedLogMemory.layer,
  PeerStatus.layer,
  SyncMetrics.layerMemory,
  ProgressRecord.layerMemory
)

type WithDb = Layer.Layer.Success<ReturnType<typeof layerSqliteWithDb>>

/** Every store of a device whose files live in `dataDir`. */
export const layerSqlite = (
  dataDir: string,
  identity: DeviceIdentity,
  options?: { readonly maxDriftMillis?: number } & DeviceSchema
) =>
  Layer.effectContext(Effect.map(Effect.context<WithDb>(), Context.omit(LibraryDb))).pipe(
    Layer.provide(layerSqliteWithDb(dataDir, identity, options))
  )

/** The same device in memory on a hand-set clock (HlcClockTest): for fast tests. */
export const layerMemory = (
  identity: DeviceIdentity,
  options?: { readonly startMillis?: number } & DeviceSchema
) =>
  assemble({
    device: Layer.merge(LocalDevice.layer(identity.deviceId, identity.libraryId), kindsLayer(options)),
    clock: HlcClockTest.layer({ device: identity.deviceId, ...options }),
    libraryDb: LibraryDbSchema.layer(":memory:", options?.tables),
    syncStores: memorySyncStores,
    tables: options?.tables,
    overrides: undefined
  })

/** A device run from its data directory over TCP: the stores, its credentials and the TCP transport. */
export const layerDataDir = (
  dataDir: string,
  identity: DeviceIdentity & { readonly secret: string },
  options?: {
    readonly maxDriftMillis?: number
    readonly transport?: TransportTcp.TransportTcpOptions
  } & DeviceSchema
) =>
  Layer.merge(
    layerSqliteWithDb(dataDir, identity, { ...options, daemon: true }),
    TransportTcp.layer(options?.transport).pipe(Layer.provide(Credentials.layer(identity)))
  )
