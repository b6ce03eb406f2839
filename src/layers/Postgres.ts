// Opening a hub's PostgreSQL storage: one schema of one database holds everything of one device (the synced
// rows and the coordination state), so one database can hold several libraries' hubs side by side. Every
// connection of the pool has the schema as its search_path, so each store's SQL names tables unqualified,
// exactly as on SQLite. Several processes may open the same schema at once: creating and migrating it runs
// in one transaction under an advisory lock on the schema's name, so they never race.
import * as Reactivity from "@effect/experimental/Reactivity"
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Context, Effect, Layer, Random, type Scope } from "effect"
import Pg from "pg"
import { DatabaseOpenError, type SchemaMigrationError, StoreError } from "../domain/Errors.js"
import { Kinds } from "../services/Kinds.js"
import * as LibraryDbSchemaPg from "./LibraryDbSchemaPg.js"
import { LibraryDb, SyncDb } from "./Sqlite.js"
import * as SyncDbSchemaPg from "./SyncDbSchemaPg.js"

/** Where a hub lives: a PostgreSQL connection URL and the schema of this library's hub in that database. */
export interface PostgresLocation {
  readonly url: string
  readonly schema: string
}

/** A schema name Tidemark accepts: lower-case letters, digits and underscores, as PostgreSQL folds them. */
export const isSchemaName = (name: string) => /^[a-z_][a-z0-9_]{0,62}$/.test(name)

/**
 * The URL without its password, for messages and status. The driver also takes a password as a query
 * parameter (`?password=…`), so that one is hidden too.
 */
export const redactUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    if (parsed.searchParams.has("password")) parsed.searchParams.set("password", "***")
    return parsed.toString()
  } catch {
    return "(an unparsable URL)"
  }
}

/** How a hub's storage is named in errors: `postgres://host/db schema s`. */
export const describe = (location: PostgresLocation) => `${redactUrl(location.url)} schema ${location.schema}`

const INT8_OID = 20

/**
 * PostgreSQL's BIGINT arrives from the driver as a string; seqs, counters and milliseconds are BIGINT here
 * and read as numbers (exact up to 2^53, which no seq or time reaches).
 */
const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8_OID && format !== "binary"
      ? (value: string) => Number(value)
      : Pg.types.getTypeParser(oid, format)) as typeof Pg.types.getTypeParser
}

/**
 * Each process names its connections `tidemark <random id>` (application_name), so that what it records per
 * process can be told live or dead from the server's own list of sessions (see PeerStatusPg): a process
 * killed with SIGKILL loses its sessions at once.
 */
export const APPLICATION_PREFIX = "tidemark "

const processName = Effect.map(
  Effect.all(Array.from({ length: 4 }, () => Random.nextIntBetween(0, 0x10000))),
  (parts) => APPLICATION_PREFIX + parts.map((n) => n.toString(16).padStart(4, "0")).join("")
)

/** Pool size per process: pulls from several peers and serving run at once, each holding a connection per statement or transaction. */
const MAX_CONNECTIONS = 10

/**
 * A pooled client of the hub's schema, created (with its migrations, `migrate`) if missing, closed with the
 * scope. An unreachable server, a bad URL or a failing migration is a DatabaseOpenError naming the URL
 * (without its password) and the schema.
 */
export const open = (
  location: PostgresLocation,
  migrate: (sql: SqlClient.SqlClient) => Effect.Effect<void, SchemaMigrationError | SqlError.SqlError>
): Effect.Effect<SqlClient.SqlClient, DatabaseOpenError | SchemaMigrationError, Scope.Scope> =>
  Effect.gen(function* () {
    const file = describe(location)
    const fail = (e: { readonly cause?: unknown; readonly message: string }) =>
      new DatabaseOpenError({ file, reason: reasonOf(e.cause ?? e.message) })
    if (!isSchemaName(location.schema)) {
      return yield* new DatabaseOpenError({
        file,
        reason:
          "the schema name must be lower-case letters, digits and underscores, starting with a letter or _"
      })
    }
    const applicationName = yield* processName
    const client = yield* PgClient.fromPool({
      // The pool connects lazily: an unreachable server fails the first statement, the migration below.
      acquire: Effect.acquireRelease(
        Effect.sync(
          () =>
            new Pg.Pool({
              connectionString: location.url,
              options: `-c search_path=${location.schema}`,
              max: MAX_CONNECTIONS,
              application_name: applicationName,
              types
            })
        ),
        (pool) => Effect.promise(() => pool.end())
      )
    }).pipe(Effect.provide(Reactivity.layer), Effect.mapError(fail))
    yield* client
      .withTransaction(
        Effect.gen(function* () {
          // One process at a time creates or migrates a schema; the others wait, then find it done.
          yield* client.unsafe("SELECT pg_advisory_xact_lock(hashtext($1))", [`tidemark:${location.schema}`])
          yield* client.unsafe(`CREATE SCHEMA IF NOT EXISTS ${location.schema}`)
          yield* migrate(client)
        })
      )
      .pipe(Effect.catchTag("SqlError", (e) => Effect.fail(fail(e))))
    return client
  })

const reasonOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/** Map a failed statement to the store's typed error, naming the store and the operation. */
export const storeError =
  (operation: string) =>
  (e: SqlError.SqlError): StoreError =>
    new StoreError({ store: "postgres", operation, reason: reasonOf(e.cause ?? e.message) })

/**
 * A hub's storage: one client of its schema serves as both database.db (`LibraryDb`) and sync.db (`SyncDb`),
 * with the kind tables and the coordination tables created or migrated on open.
 */
export const layer = (
  location: PostgresLocation
): Layer.Layer<LibraryDb | SyncDb, DatabaseOpenError | SchemaMigrationError, Kinds> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const catalog = yield* Kinds
      const client = yield* open(location, (sql) =>
        Effect.zipRight(SyncDbSchemaPg.migrate(sql), LibraryDbSchemaPg.migrate(sql, catalog))
      )
      return Context.make(LibraryDb, client).pipe(Context.add(SyncDb, client))
    })
  )
