// A kind's unique uuid index, which a bulk load drops while it fills the empty table and builds once at the
// end: inserting rows into a random-uuid index one by one costs more than sorting them all once. Keeps: the
// table without its index is still the library's data (every row durably stored, cursors may point into
// it); building the index first removes duplicate uuids exactly as the upserts would have refused them — per
// uuid the first stored row's owner is kept, and of its rows the highest version (the first stored one on a
// tie) — so the outcome does not depend on whether rows arrived during a load or not. Every statement here
// runs inside the caller's write transaction.
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { Effect } from "effect"
import type { CompiledKind } from "../domain/Catalog.js"
import { kindTable, quote, tableDdl, type TableNames, uuidIndex, uuidIndexDdl } from "./LibraryDbSchema.js"

/** Whether the kind's table has a unique index on uuid (the named one, or an older table's UNIQUE constraint). */
export const isIndexed = (sql: SqlClient.SqlClient, names: TableNames, kind: string) =>
  Effect.map(
    sql.unsafe<{ n: number }>(`SELECT count(*) AS n FROM pragma_index_list(?) WHERE "unique" = 1`, [
      `${names.prefix}${kind}`
    ]),
    (rows) => rows[0]!.n > 0
  )

/**
 * Drop the kind's uuid index; the table must be empty. A table from before the index was named has a UNIQUE
 * constraint instead, which cannot be dropped: being empty, it is created again without it.
 */
export const drop = (sql: SqlClient.SqlClient, names: TableNames, kind: CompiledKind) =>
  Effect.gen(function* () {
    const named = yield* sql.unsafe<{ n: number }>(
      `SELECT count(*) AS n FROM sqlite_master WHERE type = 'index' AND name = ?`,
      [`${names.prefix}${kind.name}-uuid`]
    )
    if (named[0]!.n > 0) {
      yield* sql.unsafe(`DROP INDEX ${uuidIndex(names, kind.name)}`)
      return
    }
    yield* sql.unsafe(`DROP TABLE ${kindTable(names, kind.name)}`)
    yield* sql.unsafe(tableDdl(kind, names))
  })

/** SQLite's message for a UNIQUE index that its rows violate. */
const isUniqueViolation = (e: SqlError.SqlError) =>
  /UNIQUE constraint failed/.test(String(e.cause ?? e.message))

/**
 * Build the kind's uuid index. Usually no uuid is stored twice and this is one CREATE INDEX; when the load
 * stored some twice (a page applied again after a crash, a row that changed on the peer while the load ran),
 * the rows an upsert would have refused are deleted first.
 */
export const build = (sql: SqlClient.SqlClient, names: TableNames, kind: string) =>
  sql.unsafe(uuidIndexDdl(kind, names)).pipe(
    Effect.catchIf(isUniqueViolation, () =>
      Effect.gen(function* () {
        const table = kindTable(names, kind)
        const lookup = quote(`${names.prefix}${kind}-uuid-duplicates`)
        yield* sql.unsafe(`CREATE INDEX ${lookup} ON ${table} (uuid)`)
        yield* sql.unsafe(
          `DELETE FROM ${table} WHERE uuid IN (SELECT uuid FROM ${table} GROUP BY uuid HAVING count(*) > 1)
           AND seq != (
             SELECT w.seq FROM ${table} AS w
             WHERE w.uuid = ${table}.uuid
               AND w.owner IS (SELECT f.owner FROM ${table} AS f WHERE f.uuid = ${table}.uuid ORDER BY f.seq LIMIT 1)
             ORDER BY w.version DESC, w.seq ASC LIMIT 1)`
        )
        yield* sql.unsafe(`DROP INDEX ${lookup}`)
        yield* sql.unsafe(uuidIndexDdl(kind, names))
      })
    ),
    Effect.asVoid
  )
