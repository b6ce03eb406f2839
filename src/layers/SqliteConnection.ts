// A SqlClient over one better-sqlite3 connection that also hands out the connection itself (`handle`). The
// hot path of a sync engine, upserting a page of rows, runs one prepared single-row statement per row on the
// handle: through the Effect client every statement costs about 17 µs of overhead, more than SQLite's own
// work, and one multi-row VALUES statement is about 25% slower in SQLite than the same rows one at a time.
// Direct calls on the handle are made only inside `withTransaction`, which holds the connection's single
// permit, so no other statement can run between them.
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlError from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import type { Connection } from "@effect/sql/SqlConnection"
import Database from "better-sqlite3"
import { Effect, Scope, Stream } from "effect"

export interface SqliteDb extends SqlClient.SqlClient {
  /** The connection itself, for statements run many times in one transaction. */
  readonly handle: Database.Database
}

/** Prepared statements kept per connection; the engine has a few dozen distinct ones. */
const MAX_PREPARED = 500

const failed = (cause: unknown) => new SqlError.SqlError({ cause, message: "Failed to execute statement" })

const connectionOver = (db: Database.Database): Connection => {
  const prepared = new Map<string, Database.Statement>()
  const prepare = (sql: string) => {
    let statement = prepared.get(sql)
    if (statement === undefined) {
      if (prepared.size >= MAX_PREPARED) prepared.clear()
      statement = db.prepare(sql)
      prepared.set(sql, statement)
    }
    return statement
  }
  const rows = (statement: Database.Statement, params: ReadonlyArray<unknown>) => {
    if (statement.reader) return statement.all(...params) as ReadonlyArray<any>
    statement.run(...params)
    return []
  }
  const values = (statement: Database.Statement, params: ReadonlyArray<unknown>) => {
    if (!statement.reader) return rows(statement, params) as ReadonlyArray<ReadonlyArray<unknown>>
    statement.raw(true)
    try {
      return statement.all(...params) as ReadonlyArray<ReadonlyArray<unknown>>
    } finally {
      statement.raw(false)
    }
  }
  const attempt = <A>(run: () => A) => Effect.try({ try: run, catch: failed })
  return {
    execute: (sql, params, transform) =>
      attempt(() => {
        const result = rows(prepare(sql), params)
        return transform ? transform(result) : result
      }),
    executeRaw: (sql, params) =>
      attempt(() => {
        const statement = prepare(sql)
        return statement.reader ? statement.all(...params) : statement.run(...params)
      }),
    executeValues: (sql, params) => attempt(() => values(prepare(sql), params)),
    executeUnprepared: (sql, params, transform) =>
      attempt(() => {
        const result = rows(db.prepare(sql), params)
        return transform ? transform(result) : result
      }),
    executeStream: () => Stream.dieMessage("streaming statements are not supported on SQLite")
  }
}

/** Open `file` (WAL mode) as a SqlClient with its handle; closed when the scope closes. */
export const make = (file: string) =>
  Effect.gen(function* () {
    const db = yield* Effect.acquireRelease(
      Effect.try({ try: () => new Database(file), catch: failed }),
      (db) => Effect.sync(() => db.close())
    )
    yield* Effect.try({ try: () => db.pragma("journal_mode = WAL"), catch: failed })
    const connection = connectionOver(db)
    // One connection, one permit: a transaction holds it from BEGIN to COMMIT, other statements wait.
    const permit = yield* Effect.makeSemaphore(1)
    const transactionAcquirer = Effect.uninterruptibleMask((restore) =>
      Effect.as(
        Effect.zipRight(
          restore(permit.take(1)),
          Effect.tap(Effect.scope, (scope) => Scope.addFinalizer(scope, permit.release(1)))
        ),
        connection
      )
    )
    const client = yield* SqlClient.make({
      acquirer: permit.withPermits(1)(Effect.succeed(connection)),
      transactionAcquirer,
      compiler: Statement.makeCompilerSqlite(),
      spanAttributes: [["db.system.name", "sqlite"]]
    }).pipe(Effect.provide(Reactivity.layer))
    return Object.assign(client, { handle: db }) as SqliteDb
  })
