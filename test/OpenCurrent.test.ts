// Opening a SQLite file that is already at the latest schema skips the Migrator and `syncKinds` (Sqlite.open,
// LibraryDbSchema.layer), so that every CLI command does not run their statements nor wait for the write lock.
// The skip must only ever apply to a current file: a file behind the migrations or the catalog is migrated.
import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import Database from "better-sqlite3"
import { Effect, Schema } from "effect"
import { join } from "node:path"
import { schema, unsafeCompile } from "../src/domain/Catalog.js"
import { owned } from "../src/domain/Resource.js"
import * as LibraryDbSchema from "../src/layers/LibraryDbSchema.js"
import * as Sqlite from "../src/layers/Sqlite.js"
import { cliJson, cliOk } from "./support/cli.js"
import { tempDir } from "./support/tempDir.js"

const createTable = (name: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`CREATE TABLE ${name} (x)`))

/** Open `file` with `migrations` in a scope of its own (closed before this returns), then run `f` on it. */
const opened = <A, E>(
  file: string,
  migrations: Sqlite.Migrations,
  f: (sql: SqlClient.SqlClient) => Effect.Effect<A, E>
) => Effect.scoped(Effect.flatMap(Sqlite.open(file, migrations, 4), f))

const nothing = () => Effect.void

const tables = (sql: SqlClient.SqlClient) =>
  Effect.map(
    sql.unsafe<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"),
    (rows) => rows.map((r) => r.name)
  )

describe("opening a file already at the latest schema", () => {
  it("the latest migration id is the highest key's number", () => {
    expect(Sqlite.latestMigrationId({})).toBe(0)
    expect(Sqlite.latestMigrationId({ "2_b": Effect.void, "10_c": Effect.void, "1_a": Effect.void })).toBe(10)
  })

  it.scopedLive("a file behind the latest migration still runs the migrations it lacks, once", () =>
    Effect.gen(function* () {
      const file = join(yield* tempDir(), "test.db")
      yield* opened(file, { "1_a": createTable("a") }, nothing)
      const both = { "1_a": createTable("a"), "2_b": createTable("b") }
      expect(yield* opened(file, both, tables)).toEqual(["a", "b", "tidemark_migrations"])
      // Current now: opening again runs nothing (creating `b` twice would fail).
      const recorded = yield* opened(file, both, (sql) =>
        sql.unsafe<{ migration_id: number }>("SELECT migration_id FROM tidemark_migrations ORDER BY 1")
      )
      expect(recorded.map((r) => r.migration_id)).toEqual([1, 2])
    })
  )

  it.scopedLive(
    "kindsInPlace: true only when every kind's table holds each field's column with its type",
    () =>
      Effect.gen(function* () {
        const file = join(yield* tempDir(), "database.db")
        const names = { prefix: "app_" }
        const v1 = unsafeCompile(schema(owned("note", { title: Schema.String, done: Schema.Boolean })))
        const check = (app: typeof v1) =>
          opened(file, {}, (sql) =>
            LibraryDbSchema.kindsInPlace(app, names).pipe(Effect.provideService(SqlClient.SqlClient, sql))
          )
        expect(yield* check(v1)).toBe(false)
        yield* opened(file, {}, (sql) =>
          LibraryDbSchema.syncKinds(v1, names).pipe(Effect.provideService(SqlClient.SqlClient, sql))
        )
        expect(yield* check(v1)).toBe(true)
        // A new kind, a new field, a field of another type: each needs syncKinds.
        const newKind = schema(
          owned("note", { title: Schema.String, done: Schema.Boolean }),
          owned("list", { name: Schema.String })
        )
        const newField = schema(
          owned("note", { title: Schema.String, done: Schema.Boolean, color: Schema.NullOr(Schema.String) })
        )
        const otherType = schema(owned("note", { title: Schema.String, done: Schema.Int }))
        for (const app of [newKind, newField, otherType]) expect(yield* check(unsafeCompile(app))).toBe(false)
        // A field dropped from the catalog leaves its column: nothing to do.
        expect(yield* check(unsafeCompile(schema(owned("note", { title: Schema.String }))))).toBe(true)
        // Another prefix names other tables.
        expect(
          yield* opened(file, {}, (sql) =>
            LibraryDbSchema.kindsInPlace(v1, { prefix: "" }).pipe(
              Effect.provideService(SqlClient.SqlClient, sql)
            )
          )
        ).toBe(false)
      })
  )

  it.scopedLive("a command opens a current device while another process holds both files' write locks", () =>
    Effect.gen(function* () {
      const dir = join(yield* tempDir(), "device")
      yield* cliOk(["init", "--data-dir", dir, "--name", "locked"])
      // Another writer (a daemon's transaction) holds the write lock of both files for the whole command.
      const writers = ["database.db", "sync.db"].map((f) => new Database(join(dir, f)))
      yield* Effect.acquireRelease(
        Effect.sync(() => writers.forEach((w) => w.exec("BEGIN IMMEDIATE"))),
        () => Effect.sync(() => writers.forEach((w) => (w.exec("ROLLBACK"), w.close())))
      )
      const status = yield* cliJson(["status", "--data-dir", dir, "--json"])
      expect(status).toMatchObject({ peers: [], watermarks: [] })
      const dump = yield* cliOk(["dump", "--data-dir", dir])
      expect(dump.split("\n").filter((l) => l.length > 0)).toHaveLength(1)
    })
  )
})
