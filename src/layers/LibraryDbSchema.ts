// The schema of database.db: one table per resource kind. `seq` is the INTEGER PRIMARY KEY (the rowid), so
// rows are stored in ingest order and a page "after cursor" is a range scan; `uuid` is unique. A global
// counter hands out seq values; taking it is the first statement of every write transaction, which also
// takes SQLite's write lock up front, so transactions commit in seq order even across processes.
import * as SqlClient from "@effect/sql/SqlClient"
import { randomUUID } from "node:crypto"
import { Effect, Layer } from "effect"
import { columnsOf, isIntegerColumn, resourceTypes, type ResourceType } from "../domain/Resource.js"
import { layerLibraryDb, type Migrations, LibraryDb } from "./Sqlite.js"
import type { DatabaseOpenError } from "../domain/Errors.js"

export const tableDdl = (resource: ResourceType): string =>
  `CREATE TABLE IF NOT EXISTS ${resource} (
    seq INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    version TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    owner TEXT,
    ${columnsOf(resource)
      .map((c) => `${c} ${isIntegerColumn(resource, c) ? "INTEGER" : "TEXT"}`)
      .join(",\n    ")}
  )`

export const libraryMigrations: Migrations = {
  "1_resources": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(
      "CREATE TABLE seq_counter (id INTEGER PRIMARY KEY CHECK (id = 1), next INTEGER NOT NULL)"
    )
    yield* sql.unsafe("INSERT INTO seq_counter (id, next) VALUES (1, 1)")
    for (const r of resourceTypes) yield* sql.unsafe(tableDdl(r))
  }),
  // A random id of this database file: peers' cursors are positions in *this* file's seq, so a peer that
  // finds another id here (the file was replaced or restored) knows its cursors no longer apply.
  "2_store_identity": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(
      "CREATE TABLE store_identity (id INTEGER PRIMARY KEY CHECK (id = 1), store_id TEXT NOT NULL)"
    )
    yield* sql.unsafe("INSERT INTO store_identity (id, store_id) VALUES (1, ?)", [randomUUID()])
  })
}

export const layer = (file: string): Layer.Layer<LibraryDb, DatabaseOpenError> =>
  layerLibraryDb(file, libraryMigrations)
