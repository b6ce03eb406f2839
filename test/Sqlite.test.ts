import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option } from "effect"
import type * as SqlClient from "@effect/sql/SqlClient"
import Database from "better-sqlite3"
import { join } from "node:path"
import * as Hlc from "../src/domain/Hlc.js"
import * as Device from "../src/layers/Device.js"
import * as Sqlite from "../src/layers/Sqlite.js"
import { LibraryStore } from "../src/services/LibraryStore.js"
import { deviceA, deviceB, entryFields, libraryId, uuidN } from "./support/fixtures.js"
import { tempDir } from "./support/tempDir.js"

/** A database file in a fresh directory, opened as the stores open theirs, with one table `t`. */
const withTable = Effect.gen(function* () {
  const dir = yield* tempDir()
  const sql = yield* Sqlite.open(join(dir, "test.db"), {}, 4)
  yield* sql.unsafe("CREATE TABLE t (x INTEGER)")
  return sql
})

const count = (sql: SqlClient.SqlClient) =>
  Effect.map(sql.unsafe<{ n: number }>("SELECT count(*) AS n FROM t"), (rows) => rows[0]!.n)

describe("opening a SQLite file", () => {
  it.scoped("opens in WAL mode with the tuning pragmas and records migrations", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const sql = yield* Sqlite.open(join(dir, "test.db"), { "1_t": Effect.void }, 4)
      expect(yield* sql.unsafe("PRAGMA journal_mode")).toEqual([{ journal_mode: "wal" }])
      expect(yield* sql.unsafe("PRAGMA busy_timeout")).toEqual([{ timeout: 10_000 }])
      expect(yield* sql.unsafe("PRAGMA synchronous")).toEqual([{ synchronous: 1 }])
      const migrations = yield* sql.unsafe<{ name: string }>("SELECT name FROM tidemark_migrations")
      expect(migrations.map((m) => m.name)).toEqual(["t"])
    })
  )

  it.scoped("a failed transaction rolls back every statement it ran", () =>
    Effect.gen(function* () {
      const sql = yield* withTable
      const exit = yield* Effect.exit(
        sql.withTransaction(
          Effect.gen(function* () {
            yield* sql.unsafe("INSERT INTO t VALUES (1)")
            yield* sql.unsafe("INSERT INTO t VALUES (2)")
            return yield* Effect.fail("stop")
          })
        )
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(yield* count(sql)).toBe(0)
    })
  )

  it.scoped("a nested transaction that fails rolls back only its own statements", () =>
    Effect.gen(function* () {
      const sql = yield* withTable
      yield* sql.withTransaction(
        Effect.gen(function* () {
          yield* sql.unsafe("INSERT INTO t VALUES (1)")
          const inner = yield* Effect.exit(
            sql.withTransaction(Effect.zipRight(sql.unsafe("INSERT INTO t VALUES (2)"), Effect.fail("stop")))
          )
          expect(Exit.isFailure(inner)).toBe(true)
        })
      )
      expect(yield* sql.unsafe("SELECT x FROM t")).toEqual([{ x: 1 }])
    })
  )

  it.scoped("a statement outside a transaction waits until the transaction has committed", () =>
    Effect.gen(function* () {
      const sql = yield* withTable
      const inside = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const transaction = yield* Effect.fork(
        sql.withTransaction(
          Effect.gen(function* () {
            yield* sql.unsafe("INSERT INTO t VALUES (1)")
            yield* Deferred.succeed(inside, undefined)
            yield* Deferred.await(release)
            yield* sql.unsafe("INSERT INTO t VALUES (2)")
          })
        )
      )
      yield* Deferred.await(inside)
      const reader = yield* Effect.fork(count(sql))
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow()
      // On the same connection the reader would see the uncommitted first row if it did not wait.
      expect(yield* Fiber.poll(reader)).toEqual(Option.none())
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(transaction)
      expect(yield* Fiber.join(reader)).toBe(2)
    })
  )

  it.scoped(
    "a transaction holds the write lock from its start, so another process's commit cannot break it",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const file = join(dir, "test.db")
        const sql = yield* Sqlite.open(file, {}, 4)
        yield* sql.unsafe("CREATE TABLE t (x INTEGER)")
        // Another process's connection, which gives up at once instead of waiting for the lock.
        const other = new Database(file)
        yield* Effect.addFinalizer(() => Effect.sync(() => other.close()))
        other.pragma("busy_timeout = 0")
        let otherRefused = false
        yield* sql.withTransaction(
          Effect.gen(function* () {
            yield* count(sql)
            try {
              other.prepare("INSERT INTO t VALUES (2)").run()
            } catch {
              otherRefused = true
            }
            // A deferred transaction fails here with "database is locked" once the other write committed.
            yield* sql.unsafe("INSERT INTO t VALUES (1)")
          })
        )
        expect(otherRefused).toBe(true)
        expect(yield* count(sql)).toBe(1)
      })
  )

  it.scoped("a missing directory fails with a DatabaseOpenError naming the file, not a defect", () =>
    Effect.gen(function* () {
      const file = "/nonexistent-dir/for/sure/database.db"
      const exit = yield* Effect.exit(Sqlite.open(file, {}, 4))
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain("DatabaseOpenError")
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain(file)
    })
  )
})

describe("the page upsert", () => {
  it.scoped("stores integers as INTEGER, text as TEXT and null as NULL", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* Effect.gen(function* () {
        const store = yield* LibraryStore
        const sql = yield* Sqlite.LibraryDb
        const location = uuidN(1)
        yield* store.apply("entry", [
          {
            uuid: uuidN(2),
            version: Hlc.toHlcString(Hlc.make(1, 0, deviceB)),
            deleted: true,
            owner: deviceB,
            fields: { ...entryFields(7, location), size: 2 ** 53 - 1 }
          }
        ])
        const types = yield* sql.unsafe(
          "SELECT typeof(seq) AS seq, typeof(deleted) AS deleted, deleted AS d, typeof(size) AS size, " +
            "size AS s, typeof(modified_at) AS modified, typeof(name) AS name, typeof(parent) AS parent, " +
            "typeof(owner) AS owner FROM entry"
        )
        expect(types).toEqual([
          {
            seq: "integer",
            deleted: "integer",
            d: 1,
            size: "integer",
            s: 2 ** 53 - 1,
            modified: "integer",
            name: "text",
            parent: "null",
            owner: "text"
          }
        ])
      }).pipe(Effect.provide(Device.layerSqliteWithDb(dir, { deviceId: deviceA, libraryId })))
    })
  )
})
