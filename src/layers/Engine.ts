// The whole engine as one Layer: an application's kinds, where its data lives, how it reaches its peers. While
// the Layer's scope lives, the device serves its peers and pulls from them; an application uses it through
// `Database` and observes it through `Engine`. Keeps: nothing is served or pulled before the schema compiled
// and the stores opened and migrated, and every fiber it starts ends with its scope.
import { Context, Effect, Layer, type Stream } from "effect"
import { type AppSchema, compile } from "../domain/Catalog.js"
import type { SqlClient } from "@effect/sql/SqlClient"
import { mkdirSync } from "node:fs"
import {
  ConfigError,
  DatabaseOpenError,
  type SchemaDefinitionError,
  type SchemaMigrationError,
  type StoreError
} from "../domain/Errors.js"
import { DeviceId, isUuid, LibraryId } from "../domain/Ids.js"
import type { PeerUnavailable } from "../services/PeerTransport.js"
import { type Backfill, BackfillProgress } from "../services/BackfillProgress.js"
import { Credentials } from "../services/Credentials.js"
import * as Database from "../services/Database.js"
import { PeerTransport } from "../services/PeerTransport.js"
import * as SyncEngine from "../services/SyncEngine.js"
import * as LiveMetrics from "../services/LiveMetrics.js"
import * as MetricsReport from "../services/MetricsReport.js"
import * as Replica from "../services/Replica.js"
import * as Device from "./Device.js"
import * as ExternalWrites from "./ExternalWrites.js"
import * as Hub from "./Hub.js"
import { DeviceStorage, type StorageReport } from "../services/StatusReport.js"
import { describe as describePostgres, isSchemaName, redactUrl } from "./Postgres.js"
import * as TransportTcp from "./TransportTcp.js"

/** Where a device keeps its data. */
export type Storage = DirectoryStorage | MemoryStorage | ClientStorage | PostgresStorage

/** See `directory`. */
export interface DirectoryStorage {
  readonly _tag: "Directory"
  readonly path: string
}
/** See `memory`. */
export interface MemoryStorage {
  readonly _tag: "Memory"
}
/** See `client`. */
export interface ClientStorage {
  readonly _tag: "Client"
  readonly prefix: string
  readonly syncDirectory: string
}

/** See `postgres`. */
export interface PostgresStorage {
  readonly _tag: "Postgres"
  readonly url: string
  readonly schema: string
}

/**
 * Every store of the device (its rows and its coordination state) in one schema of a PostgreSQL database
 * (created if missing), the storage of a hub: several processes may run the same device on the same schema
 * at once and serve peers side by side, and one database can hold the hubs of several libraries, one schema
 * each. `url` is a `postgres://user:password@host:port/database` connection URL; `schema` defaults to
 * "tidemark" and must be lower-case letters, digits and underscores. The device's id and library key are
 * the caller's to keep, as with the other storages.
 */
export const postgres = (options: { readonly url: string; readonly schema?: string }): PostgresStorage => ({
  _tag: "Postgres",
  url: options.url,
  schema: options.schema ?? "tidemark"
})

/** Where `storage` keeps the data, for logs and status: a path, or a database URL without its password. */
export const describe = (storage: Storage): string =>
  storage._tag === "Directory"
    ? storage.path
    : storage._tag === "Memory"
      ? "memory"
      : storage._tag === "Client"
        ? `the application's SqlClient (prefix ${storage.prefix}), sync.db in ${storage.syncDirectory}`
        : describePostgres({ url: storage.url, schema: storage.schema })

/** `storage` as the status report shows it: the database URL without its password. */
const reportOf = (storage: Storage): StorageReport =>
  storage._tag === "Directory"
    ? { kind: "directory", path: storage.path }
    : storage._tag === "Memory"
      ? { kind: "memory" }
      : storage._tag === "Client"
        ? { kind: "client", prefix: storage.prefix, syncDirectory: storage.syncDirectory }
        : { kind: "postgres", database: redactUrl(storage.url), schema: storage.schema }

/** database.db and sync.db in the directory `path` (created if missing): data that survives restarts. */
export const directory = (path: string): DirectoryStorage => ({ _tag: "Directory", path })

/** Everything in memory, on the real clock: gone when the Layer's scope closes. For tests and caches. */
export const memory: MemoryStorage = { _tag: "Memory" }

/**
 * The synced rows in the application's own `SqlClient` (provided to the Layer), in tables whose names start
 * with `prefix` (default "tidemark_"), so they never clash with the application's tables; the coordination
 * state (cursors, shared log, clock) in sync.db in `syncDirectory` (created if missing).
 */
export const client = (options: {
  readonly syncDirectory: string
  readonly prefix?: string
}): ClientStorage => ({
  _tag: "Client",
  prefix: options.prefix ?? "tidemark_",
  syncDirectory: options.syncDirectory
})

/** How a device proves it belongs to its library: the library's id and the secret all its devices share. */
export interface LibraryKey {
  readonly id: string
  readonly secret: string
}

/** What `layer` runs: the application's kinds, the library, this device, its storage and its peers. */
export interface Config<S extends Storage = Storage> {
  /** The kinds the application syncs (`schema(...)`). */
  readonly schema: AppSchema
  readonly library: LibraryKey
  /** This device's id, a lower-case UUID, the same on every start (persist it with the data). */
  readonly device: string
  readonly storage: S
  /** Where to serve peers: "host:port" for TCP (port 0 picks a free one), "memory:name" on a memory network. */
  readonly listen: string
  /** Peers to pull from. A peer that connects to us and says where it listens is pulled from too. */
  readonly peers?: ReadonlyArray<string>
  /** How devices reach each other. Default: TCP with TLS (`Transport.tcp()`). */
  readonly transport?: Layer.Layer<PeerTransport, never, Credentials>
  /** Put other implementations in place of the engine's own. */
  readonly overrides?: Device.Overrides
  /** Page size, live wait, reconnect backoff: defaults suit most applications. */
  readonly options?: Partial<SyncEngine.EngineOptions>
  /**
   * Record page-apply latency, lag per (peer, kind) and each peer's clock drift (a ping every 10 s per
   * connection) for `Engine.prometheus`. Default: off.
   */
  readonly liveMetrics?: boolean
}

/** What `layerOffline` opens: the device and its storage; the transport only for `Replica.verify`. */
export type OfflineConfig<S extends Storage = Storage> = Omit<
  Config<S>,
  "listen" | "peers" | "options" | "liveMetrics"
>

/** What an application can observe of a running engine. */
export class Engine extends Context.Tag("tidemark/Engine")<
  Engine,
  {
    /** This device's id. */
    readonly device: DeviceId
    /** The address it serves peers at (with the port the system picked, for port 0). */
    readonly address: string
    /** Backfills of this process per (peer, kind): done, total, rate, ETA, caught up; now, then at every page. */
    readonly progress: Stream.Stream<ReadonlyArray<Backfill>>
    /**
     * The device's status and live measurements (with `liveMetrics`) in the Prometheus text format, every
     * name starting with `tidemark_`: what the daemon serves at /metrics.
     */
    readonly prometheus: Effect.Effect<string, StoreError>
  }
>() {}

/** Why the engine could not start. */
export type StartError =
  | ConfigError
  | SchemaDefinitionError
  | SchemaMigrationError
  | DatabaseOpenError
  | StoreError
  | PeerUnavailable

const checkUuid = (setting: string, value: string) =>
  isUuid(value)
    ? Effect.void
    : Effect.fail(
        new ConfigError({ setting, reason: `expected a lower-case UUID, got ${JSON.stringify(value)}` })
      )

/**
 * The engine of one device: serves and syncs for as long as the Layer's scope lives. With `Storage.client`
 * the Layer needs the application's `SqlClient`.
 */
export function layer(
  config: Config<ClientStorage>
): Layer.Layer<Database.Database | Engine | Replica.Replica, StartError, SqlClient>
export function layer(
  config: Config<DirectoryStorage | MemoryStorage | PostgresStorage>
): Layer.Layer<Database.Database | Engine | Replica.Replica, StartError>
export function layer(
  config: Config
): Layer.Layer<Database.Database | Engine | Replica.Replica, StartError, SqlClient>
export function layer(
  config: Config
): Layer.Layer<Database.Database | Engine | Replica.Replica, StartError, SqlClient> {
  return Layer.unwrapEffect(
    Effect.map(open(config, true), ({ device, identity, storage }) => {
      const engine = Layer.scoped(
        Engine,
        Effect.gen(function* () {
          const liveMetrics = yield* LiveMetrics.make
          const start = SyncEngine.start({
            listen: config.listen,
            peers: config.peers ?? [],
            options: { ...SyncEngine.defaultEngineOptions, ...config.options }
          })
          // The engine records into LiveMetrics only where it is provided.
          const address = yield* config.liveMetrics === true
            ? Effect.provideService(start, LiveMetrics.LiveMetrics, liveMetrics)
            : start
          // Another process (a CLI, a second instance) writing the same directory wakes the peers' pulls.
          if (storage._tag === "Directory") yield* Effect.forkScoped(ExternalWrites.watch())
          // The other processes of a hub write the same schema: their commits wake the peers' pulls here too.
          if (storage._tag === "Postgres") yield* Effect.forkScoped(Hub.watchOtherProcesses())
          const { changes } = yield* BackfillProgress
          const context =
            yield* Effect.context<
              Exclude<Effect.Effect.Context<typeof MetricsReport.make>, LiveMetrics.LiveMetrics>
            >()
          const prometheus = MetricsReport.make.pipe(
            Effect.provide(context),
            Effect.provideService(LiveMetrics.LiveMetrics, liveMetrics)
          )
          return { device: identity.deviceId, address, progress: changes, prometheus }
        })
      )
      return Layer.mergeAll(engine, Database.layer, Replica.layer).pipe(Layer.provide(device))
    })
  )
}

/**
 * A device's storage opened without serving or syncing, for as long as the Layer's scope lives: read and
 * write its rows (`Database`), look at its sync state and compare it with a peer (`Replica`). Another process
 * may run the engine on the same directory at the same time (SQLite's WAL); its peers hear of these writes.
 */
export function layerOffline(
  config: OfflineConfig<ClientStorage>
): Layer.Layer<Database.Database | Replica.Replica, StartError, SqlClient>
export function layerOffline(
  config: OfflineConfig<DirectoryStorage | MemoryStorage | PostgresStorage>
): Layer.Layer<Database.Database | Replica.Replica, StartError>
export function layerOffline(
  config: OfflineConfig
): Layer.Layer<Database.Database | Replica.Replica, StartError, SqlClient>
export function layerOffline(
  config: OfflineConfig
): Layer.Layer<Database.Database | Replica.Replica, StartError, SqlClient> {
  return Layer.unwrapEffect(
    Effect.map(open(config, false), ({ device }) =>
      Layer.merge(Database.layer, Replica.layer).pipe(Layer.provide(device))
    )
  )
}

/**
 * Check the configuration, then the Layer of the device's stores, clock state and transport. `serving`: this
 * process holds the peer connections (their persisted state is reset when it starts).
 */
const open = (config: OfflineConfig, serving: boolean) =>
  Effect.gen(function* () {
    const kinds = yield* compile(config.schema)
    yield* checkUuid("device", config.device)
    yield* checkUuid("library.id", config.library.id)
    const storage = config.storage
    if (storage._tag === "Client" && !/^[a-z_][a-z0-9_]{0,30}$/.test(storage.prefix)) {
      return yield* new ConfigError({
        setting: "storage.prefix",
        reason: `expected lower-case letters, digits and underscores, got ${JSON.stringify(storage.prefix)}`
      })
    }
    if (storage._tag === "Postgres" && !isSchemaName(storage.schema)) {
      return yield* new ConfigError({
        setting: "storage.schema",
        reason: `expected lower-case letters, digits and underscores, got ${JSON.stringify(storage.schema)}`
      })
    }
    if (config.library.secret.length === 0) {
      return yield* new ConfigError({ setting: "library.secret", reason: "the library secret is empty" })
    }
    const identity = {
      deviceId: DeviceId.make(config.device),
      libraryId: LibraryId.make(config.library.id)
    }
    const options = { kinds, ...(config.overrides === undefined ? {} : { overrides: config.overrides }) }
    if (storage._tag === "Directory" || storage._tag === "Client") {
      const dir = storage._tag === "Directory" ? storage.path : storage.syncDirectory
      yield* Effect.try({
        try: () => mkdirSync(dir, { recursive: true }),
        catch: (e) => new DatabaseOpenError({ file: dir, reason: e instanceof Error ? e.message : String(e) })
      })
    }
    const stores =
      storage._tag === "Directory"
        ? Device.layerSqliteWithDb(storage.path, identity, {
            ...options,
            tables: { prefix: "" },
            daemon: serving
          })
        : storage._tag === "Client"
          ? Device.layerClient(storage.syncDirectory, identity, {
              ...options,
              tables: { prefix: storage.prefix }
            })
          : storage._tag === "Postgres"
            ? Device.layerPostgres({ url: storage.url, schema: storage.schema }, identity, options)
            : // sync.db's stores include the clock's persisted state; a clock in memory persists nothing: ask it.
              Layer.provideMerge(Replica.clockStateOfClock, Device.layerInMemory(identity, options))
    const transport = (config.transport ?? TransportTcp.layer()).pipe(
      Layer.provide(Credentials.layer({ ...identity, secret: config.library.secret }))
    )
    const device = Layer.mergeAll(stores, transport, Layer.succeed(DeviceStorage, reportOf(storage)))
    return { device, identity, storage }
  })
