import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option } from "effect"
import * as SqliteConnection from "../src/layers/SqliteConnection.js"

const withTable = Effect.gen(function* () {
  const sql = yield* SqliteConnection.make(":memory:")
  yield* sql.unsafe("CREATE TABLE t (x INTEGER)")
  return sql
})

const count = (sql: SqliteConnection.SqliteDb) =>
  Effect.map(sql.unsafe<{ n: number }>("SELECT count(*) AS n FROM t"), (rows) => rows[0]!.n)

describe("SqliteConnection", () => {
  it.scoped("a statement outside a transaction waits until the transaction has committed", () =>
    Effect.gen(function* () {
      const sql = yield* withTable
      const inside = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const transaction = yield* Effect.fork(
        sql.withTransaction(
          Effect.gen(function* () {
            sql.handle.prepare("INSERT INTO t VALUES (1)").run()
            yield* Deferred.succeed(inside, undefined)
            yield* Deferred.await(release)
            sql.handle.prepare("INSERT INTO t VALUES (2)").run()
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

  it.scoped("a failed transaction rolls back what ran on the handle", () =>
    Effect.gen(function* () {
      const sql = yield* withTable
      const exit = yield* Effect.exit(
        sql.withTransaction(
          Effect.gen(function* () {
            sql.handle.prepare("INSERT INTO t VALUES (1)").run()
            return yield* Effect.fail("stop")
          })
        )
      )
      expect(Exit.isFailure(exit)).toBe(true)
      expect(yield* count(sql)).toBe(0)
    })
  )

  it.scoped("values reads rows as arrays and leaves the statement reading objects", () =>
    Effect.gen(function* () {
      const sql = yield* withTable
      yield* sql.unsafe("INSERT INTO t VALUES (?), (?)", [1, 2])
      const query = "SELECT x FROM t ORDER BY x"
      expect(yield* sql.unsafe(query).values).toEqual([[1], [2]])
      expect(yield* sql.unsafe(query)).toEqual([{ x: 1 }, { x: 2 }])
    })
  )

  it.scoped("a statement that fails gives a SqlError and leaves the connection usable", () =>
    Effect.gen(function* () {
      const sql = yield* withTable
      const exit = yield* Effect.exit(sql.unsafe("SELECT nope FROM t"))
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain("SqlError")
      expect(yield* count(sql)).toBe(0)
    })
  )

  it.scoped("a file that cannot be opened fails with a SqlError, not a defect", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(SqliteConnection.make("/nonexistent-dir/for/sure/database.db"))
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain("SqlError")
    })
  )
})
