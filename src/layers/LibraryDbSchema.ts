// The schema of database.db, derived from the application's kinds: one table per kind. `seq` is the INTEGER
// PRIMARY KEY (the rowid), so rows are stored in ingest order and a page "after cursor" is a range scan;
// `uuid` is unique. A global counter hands out seq values; taking it is the first statement of every write
// transaction, which also takes SQLite's write lock up front, so transactions commit in seq order even
// across processes. Every table Tidemark creates carries the configured prefix, so an application's own
// tables in the same database never clash with them. Keeps: a migration never drops or invents data — a
// kind added later gets its table, a nullable field added later its column (NULL in existing rows), and
// anything else that would need a value for existing rows fails with SchemaMigrationError.
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { randomUUID } from "node:crypto"
import { Effect, Layer } from "effect"
import type { Catalog, ColumnType, CompiledKind } from "../domain/Catalog.js"
import { DatabaseOpenError, SchemaMigrationError } from "../domain/Errors.js"
import { Kinds } from "../services/Kinds.js"
import { openingsDdl } from "./OpeningsSqlite.js"
import { LIBRARY_CACHE_MIB, LibraryDb, type Migrations, open } from "./Sqlite.js"

/** Where Tidemark's tables live in database.db: every name starts with `prefix`. */
export interface TableNames {
  readonly prefix: string
}

export const quote = (identifier: string) => `"${identifier}"`
export const kindTable = (names: TableNames, kind: string) => quote(`${names.prefix}${kind}`)
export const seqCounterTable = (names: TableNames) => quote(`${names.prefix}seq_counter`)
export const storeIdentityTable = (names: TableNames) => quote(`${names.prefix}store_identity`)
/** The openings of the tables' seq counter (services/Openings.ts). */
export const openingsTable = (names: TableNames) => quote(`${names.prefix}store_openings`)
/** The migrations table: `<prefix>migrations`, or `tidemark_migrations` without a prefix. */
export const migrationsTable = (names: TableNames) =>
  names.prefix === "" ? "tidemark_migrations" : `${names.prefix}migrations`

/**
 * The declared type of each column. A boolean is stored as 0/1 but declared BOOLEAN (NUMERIC affinity, so
 * 0/1 stay integers), so that reopening with an Int field where a Boolean was, or the reverse, is seen as
 * the type change it is, not read back as `5 === 1`.
 */
const sqlType: Record<ColumnType, string> = {
  text: "TEXT",
  integer: "INTEGER",
  real: "REAL",
  boolean: "BOOLEAN"
}

/**
 * A kind's table. `uuid` is unique through a separate, named index (`uuidIndexDdl`) rather than a UNIQUE
 * constraint, so that a bulk load into the empty table can drop the index and build it once at the end.
 * Tables created before that carry an unnamed UNIQUE constraint instead; both are a unique index on uuid.
 */
export const tableDdl = (kind: CompiledKind, names: TableNames = { prefix: "" }): string =>
  `CREATE TABLE IF NOT EXISTS ${kindTable(names, kind.name)} (
    seq INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL,
    version TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    owner TEXT${kind.columns.map((c) => `,\n    ${quote(c.name)} ${sqlType[c.type]}`).join("")}
  )`

/** The name of a kind's unique uuid index; a hyphen, which no kind name holds, keeps it from naming a table. */
export const uuidIndex = (names: TableNames, kind: string) => quote(`${names.prefix}${kind}-uuid`)

/** The unique index on a kind's uuid, which every upsert's `ON CONFLICT(uuid)` needs. */
export const uuidIndexDdl = (kind: string, names: TableNames = { prefix: "" }): string =>
  `CREATE UNIQUE INDEX IF NOT EXISTS ${uuidIndex(names, kind)} ON ${kindTable(names, kind)} (uuid)`

/** The fixed tables: the seq counter and the store's identity. Kind tables follow the catalog (`syncKinds`). */
export const libraryMigrations = (names: TableNames): Migrations => ({
  "1_resources": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(
      `CREATE TABLE ${seqCounterTable(names)} (id INTEGER PRIMARY KEY CHECK (id = 1), next INTEGER NOT NULL)`
    )
    yield* sql.unsafe(`INSERT INTO ${seqCounterTable(names)} (id, next) VALUES (1, 1)`)
  }),
  // A random id of this database file: peers' cursors are positions in *this* file's seq, so a peer that
  // finds another id here (the file was replaced or restored) knows its cursors no longer apply.
  "2_store_identity": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(
      `CREATE TABLE ${storeIdentityTable(names)} (id INTEGER PRIMARY KEY CHECK (id = 1), store_id TEXT NOT NULL)`
    )
    yield* sql.unsafe(`INSERT INTO ${storeIdentityTable(names)} (id, store_id) VALUES (1, ?)`, [randomUUID()])
  }),
  // Each serving process's opening and the highest table seq it vouched for (services/Openings.ts).
  "3_openings": Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(openingsDdl(openingsTable(names))))
})

/**
 * Bring the kind tables to the catalog: create the tables of new kinds, add the columns of new nullable
 * fields. Runs in one transaction after the fixed migrations (opening a file, only when `kindsInPlace` finds the
 * tables behind the catalog); a no-op when nothing changed.
 */
export const syncKinds = (catalog: Catalog, names: TableNames) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    for (const kind of catalog.kinds) {
      const existing = yield* sql.unsafe<{ name: string; type: string }>(
        `SELECT name, type FROM pragma_table_info(?)`,
        [`${names.prefix}${kind.name}`]
      )
      if (existing.length === 0) {
        yield* sql.unsafe(tableDdl(kind, names))
        yield* sql.unsafe(uuidIndexDdl(kind.name, names))
        continue
      }
      const types = new Map(existing.map((c) => [c.name, c.type.toUpperCase()]))
      for (const column of kind.columns) {
        const stored = types.get(column.name)
        if (stored === undefined) {
          if (!column.nullable) {
            return yield* new SchemaMigrationError({
              kind: kind.name,
              field: column.name,
              reason:
                "it is new and not nullable, so the rows already stored have no value for it: declare it Schema.NullOr(…)"
            })
          }
          yield* sql.unsafe(
            `ALTER TABLE ${kindTable(names, kind.name)} ADD COLUMN ${quote(column.name)} ${sqlType[column.type]}`
          )
        } else if (stored !== sqlType[column.type]) {
          return yield* new SchemaMigrationError({
            kind: kind.name,
            field: column.name,
            reason: `it is stored as ${stored} but now declared as ${sqlType[column.type]}`
          })
        }
      }
    }
  }).pipe((effect) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql.withTransaction(effect)))

/**
 * Whether the kind tables already match the catalog, so that `syncKinds` would change nothing: every kind's
 * table exists and holds each field's column with its declared type. One read, outside any transaction, so
 * opening a current file (every CLI command) neither runs `syncKinds` nor waits for the write lock.
 */
export const kindsInPlace = (catalog: Catalog, names: TableNames) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    if (catalog.kinds.length === 0) return true
    const rows = yield* sql.unsafe<{ kind: string; name: string; type: string }>(
      catalog.kinds.map(() => "SELECT ? AS kind, name, type FROM pragma_table_info(?)").join(" UNION ALL "),
      catalog.kinds.flatMap((kind) => [kind.name, `${names.prefix}${kind.name}`])
    )
    const stored = new Map(rows.map((r) => [`${r.kind}\u0000${r.name}`, r.type.toUpperCase()]))
    const tables = new Set(rows.map((r) => r.kind))
    return catalog.kinds.every(
      (kind) =>
        tables.has(kind.name) &&
        kind.columns.every((c) => stored.get(`${kind.name}\u0000${c.name}`) === sqlType[c.type])
    )
  })

/** database.db at `file` (":memory:" for tests), with its tables brought to the application's kinds. */
export const layer = (
  file: string,
  names: TableNames = { prefix: "" }
): Layer.Layer<LibraryDb, DatabaseOpenError | SchemaMigrationError, Kinds> =>
  Layer.scoped(
    LibraryDb,
    Effect.gen(function* () {
      const client = yield* open(file, libraryMigrations(names), LIBRARY_CACHE_MIB, migrationsTable(names))
      const catalog = yield* Kinds
      yield* Effect.flatMap(kindsInPlace(catalog, names), (inPlace) =>
        inPlace ? Effect.void : syncKinds(catalog, names)
      ).pipe(
        Effect.provideService(SqlClient.SqlClient, client),
        Effect.catchTag(
          "SqlError",
          (e) => new DatabaseOpenError({ file, reason: String(e.cause ?? e.message) })
        )
      )
      return client
    })
  )

/**
 * The application's own SqlClient as database.db: Tidemark's tables (all named with `names.prefix`) are
 * created and migrated in it next to the application's tables. The client's connection settings (WAL,
 * busy timeout …) stay the application's.
 */
export const layerClient = (
  names: TableNames
): Layer.Layer<LibraryDb, DatabaseOpenError | SchemaMigrationError, SqlClient.SqlClient | Kinds> =>
  Layer.effect(
    LibraryDb,
    Effect.gen(function* () {
      // Rows are read by their column names: an application's result-name transforms (snake → camel) must
      // not apply to Tidemark's statements.
      const client = (yield* SqlClient.SqlClient).withoutTransforms()
      const catalog = yield* Kinds
      const fail = (e: { readonly cause?: unknown; readonly message: string }) =>
        new DatabaseOpenError({ file: "the application's SqlClient", reason: String(e.cause ?? e.message) })
      yield* Migrator.make({})({
        loader: Migrator.fromRecord(libraryMigrations(names)),
        table: migrationsTable(names)
      }).pipe(Effect.mapError(fail))
      yield* syncKinds(catalog, names).pipe(Effect.catchTag("SqlError", (e) => fail(e)))
      return client
    })
  )
