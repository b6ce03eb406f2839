// Openings (services/Openings.ts) in a SQLite file: one row per opening in `table`, in the same file as the
// counter whose end `endSql` reads, so a backup of the file carries the openings as they were then.
import type * as SqlClient from "@effect/sql/SqlClient"
import { Effect, Option } from "effect"
import type { Openings } from "../services/Openings.js"
import { storeError } from "./Sqlite.js"

/** The openings table's DDL (`table` already quoted where it needs to be). */
export const openingsDdl = (table: string) =>
  `CREATE TABLE ${table} (id TEXT PRIMARY KEY, served INTEGER NOT NULL)`

/**
 * Openings over `sql`. `endSql` is a scalar subquery giving the counter's committed end (the last seq handed
 * out); it is read in the statement that writes, so `served` is never above what the file holds.
 */
export const make = (
  sql: SqlClient.SqlClient,
  file: "database.db" | "sync.db",
  table: string,
  endSql: string
): Openings => ({
  open: (id) =>
    sql
      .unsafe(`INSERT INTO ${table} (id, served) VALUES (?, coalesce((${endSql}), 0))`, [id])
      .pipe(Effect.asVoid, Effect.mapError(storeError(file, "record an opening"))),
  served: (id) =>
    sql.unsafe<{ served: number }>(`SELECT served FROM ${table} WHERE id = ?`, [id]).pipe(
      Effect.map((rows) => Option.fromNullable(rows[0]?.served)),
      Effect.mapError(storeError(file, "read an opening"))
    ),
  vouch: (id) =>
    sql
      .unsafe<{ served: number }>(
        `UPDATE ${table} SET served = max(served, coalesce((${endSql}), 0)) WHERE id = ? RETURNING served`,
        [id]
      )
      .pipe(
        Effect.map((rows) => rows[0]?.served ?? 0),
        Effect.mapError(storeError(file, "vouch for positions"))
      )
})
