// The simulator's SqlClient over a held database (SimSqlite.ts) takes a short path for statements and
// transactions; these tests hold it to one SQLite connection's rules: a statement outside a transaction waits
// while another fiber's transaction holds the connection, two transactions never interleave, nested ones are
// savepoints, a failure rolls back, and a crash stops every later statement.
import type * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import * as Runtime from "../src/simulation/Runtime.js"
import * as SimSqlite from "../src/simulation/SimSqlite.js"

const open = () => {
  const held = new SimSqlite.HeldDatabase()
  held.db.exec("CREATE TABLE t (n INTEGER)")
  return held
}

/** A gate that lets every statement through: a device that never crashes. */
const alwaysPass = { pass: () => true }

/** Run on the simulator's runtime (simulated time), with tracing off as the simulator runs. */
const run = <A, E>(effect: Effect.Effect<A, E, Runtime.Outside>, tracing = false) =>
  Runtime.run(Effect.withTracerEnabled(effect, tracing), 0).then((r) => r.exit)

const count = (sql: SqlClient.SqlClient) =>
  Effect.map(sql.unsafe<{ n: number }>("SELECT count(*) AS n FROM t"), (rows) => rows[0]!.n)

/** A transaction that inserts one row, lets 10 ms pass, and inserts a second. */
const insertTwoSlowly = (sql: SqlClient.SqlClient) =>
  sql.withTransaction(
    Effect.gen(function* () {
      yield* sql.unsafe("INSERT INTO t VALUES (1)")
      yield* Effect.sleep(10)
      yield* sql.unsafe("INSERT INTO t VALUES (2)")
    })
  )

describe("SimSqlite's client", () => {
  for (const tracing of [false, true]) {
    describe(
      tracing ? "with tracing on (@effect/sql's own path)" : "with tracing off (the short path)",
      () => {
        it("a statement outside a transaction waits until another fiber's transaction commits", async () => {
          const held = open()
          const exit = await run(
            Effect.gen(function* () {
              const sql = yield* SimSqlite.make(held, alwaysPass)
              const writer = yield* Effect.fork(insertTwoSlowly(sql))
              yield* Effect.sleep(5)
              // On the same connection mid-transaction it would read the uncommitted first row alone.
              const seen = yield* count(sql)
              yield* Fiber.join(writer)
              return seen
            }),
            tracing
          )
          expect(exit).toEqual(Exit.succeed(2))
        })

        it("two transactions never interleave", async () => {
          const held = open()
          const exit = await run(
            Effect.gen(function* () {
              const sql = yield* SimSqlite.make(held, alwaysPass)
              const first = yield* Effect.fork(insertTwoSlowly(sql))
              yield* Effect.sleep(5)
              const seen = yield* sql.withTransaction(count(sql))
              yield* Fiber.join(first)
              return seen
            }),
            tracing
          )
          expect(exit).toEqual(Exit.succeed(2))
        })

        it("a failure rolls back, a nested failure only its savepoint, and values() reads arrays", async () => {
          const held = open()
          const exit = await run(
            Effect.gen(function* () {
              const sql = yield* SimSqlite.make(held, alwaysPass)
              yield* sql
                .withTransaction(Effect.zipRight(sql.unsafe("INSERT INTO t VALUES (1)"), Effect.fail("no")))
                .pipe(Effect.ignore)
              yield* sql.withTransaction(
                Effect.gen(function* () {
                  yield* sql.unsafe("INSERT INTO t VALUES (2)")
                  yield* sql
                    .withTransaction(
                      Effect.zipRight(sql.unsafe("INSERT INTO t VALUES (3)"), Effect.fail("no"))
                    )
                    .pipe(Effect.ignore)
                  yield* sql.withTransaction(sql.unsafe("INSERT INTO t VALUES (4)"))
                })
              )
              return yield* sql.unsafe("SELECT n FROM t ORDER BY n").values
            }),
            tracing
          )
          expect(exit).toEqual(Exit.succeed([[2], [4]]))
          expect(held.inTransaction).toBe(false)
        })
      }
    )
  }

  it("after a crash every statement fails and the open transaction is gone", async () => {
    const held = open()
    let alive = true
    const gate = { pass: () => alive }
    const exit = await run(
      Effect.gen(function* () {
        const sql = yield* SimSqlite.make(held, gate)
        const writer = yield* Effect.fork(
          sql.withTransaction(
            Effect.gen(function* () {
              yield* sql.unsafe("INSERT INTO t VALUES (1)")
              yield* Effect.sleep(10)
              yield* sql.unsafe("INSERT INTO t VALUES (2)")
            })
          )
        )
        yield* Effect.sleep(5)
        alive = false
        held.rollback()
        const written = yield* Effect.exit(Fiber.join(writer))
        const read = yield* Effect.exit(count(sql))
        return { written: Exit.isFailure(written), read: Exit.isFailure(read) }
      })
    )
    expect(exit).toEqual(Exit.succeed({ written: true, read: true }))
    expect(held.read<{ n: number }>("SELECT count(*) AS n FROM t")).toEqual([{ n: 0 }])
  })
})
