// The synced rows of a hub on PostgreSQL: one table per kind, derived from the application's kinds, as
// LibraryDbSchema does on SQLite. `seq` is a BIGINT primary key handed out by the one-row counter table;
// taking it (UPDATE … RETURNING) locks that row until the transaction ends, so seq-taking transactions of
// every process run one after another and commit in seq order: a reader that saw seq n has already seen
// every seq below n (see LibraryStorePg). `uuid` and `version` compare bytewise (COLLATE "C"), as on SQLite,
// so last-writer-wins and uuid ranges agree between the dialects. Keeps: a migration never drops or invents
// data — new kinds get tables, new nullable fields columns, anything else fails with SchemaMigrationError.
import type * as SqlClient from "@effect/sql/SqlClient"
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import type { Catalog, ColumnType, CompiledKind } from "../domain/Catalog.js"
import { SchemaMigrationError } from "../domain/Errors.js"
import { kindTable, quote, seqCounterTable, storeIdentityTable, type TableNames } from "./LibraryDbSchema.js"

/**
 * Kind tables share the hub's schema with the coordination tables, so they carry a prefix: a kind named
 * `peers` must not meet the `peers` table.
 */
export const PG_TABLES: TableNames = { prefix: "kind_" }

/** The declared type of each column; booleans are 0/1 like on SQLite, so rows read back the same. */
export const pgType: Record<ColumnType, string> = {
  text: "text",
  integer: "bigint",
  real: "double precision",
  boolean: "smallint"
}

const tableDdl = (kind: CompiledKind, names: TableNames): string =>
  `CREATE TABLE ${kindTable(names, kind.name)} (
    seq bigint PRIMARY KEY,
    uuid text COLLATE "C" NOT NULL UNIQUE,
    version text COLLATE "C" NOT NULL,
    deleted smallint NOT NULL,
    owner text${kind.columns.map((c) => `,\n    ${quote(c.name)} ${pgType[c.type]}`).join("")}
  )`

/**
 * Create the fixed tables if missing, then bring the kind tables to the catalog. Runs inside the opening
 * transaction (Postgres.open), under the schema's advisory lock.
 */
export const migrate = (sql: SqlClient.SqlClient, catalog: Catalog, names: TableNames = PG_TABLES) =>
  Effect.gen(function* () {
    yield* sql.unsafe(
      `CREATE TABLE IF NOT EXISTS ${seqCounterTable(names)} (id integer PRIMARY KEY CHECK (id = 1), next bigint NOT NULL)`
    )
    yield* sql.unsafe(
      `INSERT INTO ${seqCounterTable(names)} (id, next) VALUES (1, 1) ON CONFLICT (id) DO NOTHING`
    )
    // A random id of this store: a restored or replaced database gets peers to drop their cursors into it.
    yield* sql.unsafe(
      `CREATE TABLE IF NOT EXISTS ${storeIdentityTable(names)} (id integer PRIMARY KEY CHECK (id = 1), store_id text NOT NULL)`
    )
    yield* sql.unsafe(
      `INSERT INTO ${storeIdentityTable(names)} (id, store_id) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`,
      [randomUUID()]
    )
    for (const kind of catalog.kinds) {
      const existing = yield* sql.unsafe<{ name: string; type: string }>(
        `SELECT column_name AS name, data_type AS type FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1`,
        [`${names.prefix}${kind.name}`]
      )
      if (existing.length === 0) {
        yield* sql.unsafe(tableDdl(kind, names))
        continue
      }
      const types = new Map(existing.map((c) => [c.name, c.type]))
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
            `ALTER TABLE ${kindTable(names, kind.name)} ADD COLUMN ${quote(column.name)} ${pgType[column.type]}`
          )
        } else if (stored !== pgType[column.type]) {
          return yield* new SchemaMigrationError({
            kind: kind.name,
            field: column.name,
            reason: `it is stored as ${stored} but now declared as ${pgType[column.type]}`
          })
        }
      }
    }
  })
