// Opening Tidemark's two SQLite files: database.db (the library) and sync.db (coordination only), each as
// `@effect/sql-sqlite-node`'s SqliteClient, so every store sees only `@effect/sql`'s SqlClient. A file that
// is missing its directory, is not a database, or is corrupt fails with a DatabaseOpenError naming the file,
// before any store touches it. Migrations run on open, when the file records fewer than there are.
import * as Reactivity from "@effect/experimental/Reactivity"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import Database from "better-sqlite3"
import { Context, Effect, Exit, Layer, Option, type Scope } from "effect"
import { existsSync, statSync } from "node:fs"
import { dirname } from "node:path"
import { DatabaseOpenError, StoreError } from "../domain/Errors.js"

export type Migrations = Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>>

/** database.db: the resource tables. */
export class LibraryDb extends Context.Tag("tidemark/LibraryDb")<LibraryDb, SqlClient.SqlClient>() {}
/** sync.db: watermarks, checkpoints, the shared log, the clock's high-water mark. */
export class SyncDb extends Context.Tag("tidemark/SyncDb")<SyncDb, SqlClient.SqlClient>() {}

const reasonOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/** The highest id among `migrations` ("3_peer_stores" is 3): the version a file is at once they all ran. */
export const latestMigrationId = (migrations: Migrations): number =>
  Math.max(0, ...Object.keys(migrations).map((key) => Number(/^(\d+)_/.exec(key)?.[1] ?? 0)))

/**
 * Read the header and schema with a throwaway connection, so corruption is reported and never a defect; and
 * the highest migration id recorded in `migrationsTable` (0 when there is none yet), which tells `open`
 * whether the Migrator has anything to do.
 */
const probe = (file: string, migrationsTable: string): Effect.Effect<number, DatabaseOpenError> =>
  Effect.try({
    try: () => {
      if (file === ":memory:") return 0
      const dir = dirname(file)
      if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`directory ${dir} does not exist`)
      if (existsSync(file) && !statSync(file).isFile()) throw new Error("not a regular file")
      const db = new Database(file)
      try {
        // Reading the schema touches the header and the schema pages: garbage or a truncated file fails
        // here. (A full integrity check is O(file) and belongs to `inspect`, not to every open.)
        db.prepare("SELECT count(*) FROM sqlite_master").get()
        const table = db
          .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
          .get(migrationsTable)
        if (table === undefined) return 0
        const row = db.prepare(`SELECT max(migration_id) AS id FROM "${migrationsTable}"`).get() as {
          id: number | null
        }
        return row.id ?? 0
      } finally {
        db.close()
      }
    },
    catch: (cause) => new DatabaseOpenError({ file, reason: reasonOf(cause) })
  })

/**
 * Page cache per connection. database.db's unique uuid index is what upserts touch at random, so it gets the
 * larger share; the cache is also most of a daemon's memory growth with library size, hence the cap.
 */
export const LIBRARY_CACHE_MIB = 32
const SYNC_CACHE_MIB = 4

/** The pragmas every store is opened with (also used by the backfill benchmark's tuned baseline). */
export const tuningPragmas = (cacheMiB: number): ReadonlyArray<string> => [
  "PRAGMA busy_timeout = 10000",
  "PRAGMA synchronous = NORMAL",
  `PRAGMA cache_size = -${cacheMiB * 1024}`,
  "PRAGMA wal_autocheckpoint = 10000"
]

/**
 * Make every outermost transaction of the client begin IMMEDIATE, taking the file's write lock (and waiting
 * out the busy timeout for it) before its first statement. A deferred transaction that reads and then writes
 * fails at once with "database is locked", busy timeout or not, when another process (a CLI command, a second
 * daemon) committed in between: it cannot upgrade a snapshot that is no longer the newest. Every transaction
 * of our stores writes, so none loses anything by holding the lock from its start. Nested transactions stay
 * savepoints of the driver's own `withTransaction`, which sees the connection this one provides.
 */
const beginImmediate = (client: SqliteClient.SqliteClient): SqlClient.SqlClient => {
  const savepoint = client.withTransaction
  const outermost = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.scoped(
        Effect.gen(function* () {
          const conn = yield* client.reserve
          yield* conn.executeUnprepared("BEGIN IMMEDIATE", [], undefined)
          const exit = yield* Effect.exit(
            restore(effect).pipe(Effect.provideService(SqlClient.TransactionConnection, [conn, 0] as const))
          )
          yield* Effect.orDie(
            conn.executeUnprepared(Exit.isSuccess(exit) ? "COMMIT" : "ROLLBACK", [], undefined)
          )
          return yield* exit
        })
      )
    )
  const withTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (outer) =>
      Option.isSome(outer) ? savepoint(effect) : outermost(effect)
    )
  return Object.assign(client, { withTransaction })
}

/**
 * Open a SQLite file with the pragmas a sync engine wants (WAL, NORMAL sync: a process crash loses nothing
 * committed; a busy timeout so a CLI and the daemon can share the file) and bring its schema up to date
 * (the migrations whose ids are above the highest recorded in `migrationsTable`).
 * The client has one connection behind a single permit: a transaction holds it from BEGIN IMMEDIATE to COMMIT
 * (nested `withTransaction` calls become savepoints on it), and other statements wait for it. It closes with
 * the scope.
 */
export const open = (
  file: string,
  migrations: Migrations,
  cacheMiB: number,
  migrationsTable = "tidemark_migrations"
): Effect.Effect<SqlClient.SqlClient, DatabaseOpenError, Scope.Scope> =>
  Effect.gen(function* () {
    const applied = yield* probe(file, migrationsTable)
    const fail = (cause: unknown) => new DatabaseOpenError({ file, reason: reasonOf(cause) })
    // The driver opens the file (and switches it to WAL) by throwing on failure; the probe has ruled out the
    // usual causes, so what still throws here (the file vanished, a lock) is reported like them.
    const client = yield* SqliteClient.make({ filename: file }).pipe(
      Effect.provide(Reactivity.layer),
      Effect.catchAllDefect((defect) => Effect.fail(fail(defect))),
      Effect.map(beginImmediate)
    )
    yield* Effect.forEach(tuningPragmas(cacheMiB), (pragma) => client.unsafe(pragma).raw).pipe(
      Effect.mapError(fail)
    )
    // The Migrator runs the migrations above the highest id recorded, in a write transaction; when the file
    // already records the latest, it has nothing to run, and skipping it spares every open (each CLI command)
    // its statements and the write lock, which a busy daemon may hold.
    if (applied < latestMigrationId(migrations)) {
      yield* Migrator.make({})({ loader: Migrator.fromRecord(migrations), table: migrationsTable }).pipe(
        Effect.provideService(SqlClient.SqlClient, client),
        Effect.mapError(fail)
      )
    }
    return client
  })

export const layerSyncDb = (file: string, migrations: Migrations): Layer.Layer<SyncDb, DatabaseOpenError> =>
  Layer.scoped(SyncDb, open(file, migrations, SYNC_CACHE_MIB))

/** Map a failed statement to the store's typed error, naming the file and the operation. */
export const storeError =
  (store: "database.db" | "sync.db", operation: string) =>
  (e: SqlError.SqlError): StoreError =>
    new StoreError({ store, operation, reason: reasonOf(e.cause ?? e.message) })

/** Like `Effect.mapError(storeError(..))`, but leaves other (already typed) failures alone. */
export const catchSqlError =
  (store: "database.db" | "sync.db", operation: string) =>
  <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, Exclude<E, SqlError.SqlError> | StoreError, R> =>
    Effect.catchIf(
      effect,
      (e): e is Extract<E, SqlError.SqlError> =>
        typeof e === "object" && e !== null && (e as { _tag?: unknown })._tag === "SqlError",
      (e) => Effect.fail(storeError(store, operation)(e as SqlError.SqlError))
    ) as Effect.Effect<A, Exclude<E, SqlError.SqlError> | StoreError, R>
