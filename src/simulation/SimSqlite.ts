// A device's SQLite databases as the simulator holds them: in memory, outliving the device, behind a crash
// gate. Every statement a device runs (BEGIN and COMMIT included) first passes the gate, so a crash can be
// the step after any statement: mid-page, mid-transaction, between the apply and the progress record.
// Keeps: a crash leaves exactly what was committed (the open transaction is rolled back at that instant,
// and nothing of the device reaches the database after it).
import * as Reactivity from "@effect/experimental/Reactivity"
import * as Client from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import Database from "better-sqlite3"
import { Effect, Scope } from "effect"

/** One SQLite database in memory, held by the simulator across a device's crashes and restarts. */
export class HeldDatabase {
  private current: Database.Database = new Database(":memory:")
  private readonly prepared = new Map<string, Database.Statement>()
  /**
   * How many statements that may change the database ran (or were rolled back): the oracle reads a
   * database again only when this moved, since nothing else can change what it holds.
   */
  changes = 0

  /** The database as it is now (another one after `load`). */
  get db(): Database.Database {
    return this.current
  }

  /**
   * The file's bytes as committed (a backup): undefined while a transaction is open, whose uncommitted
   * changes a copy would include.
   */
  snapshot(): Buffer | undefined {
    return this.current.inTransaction ? undefined : this.current.serialize()
  }

  /**
   * Put another file in this one's place, as a restore from a backup does (`bytes`), or a new empty one
   * (none). Only while no incarnation of the device runs.
   */
  load(bytes?: Buffer): void {
    this.current.close()
    this.current = new Database(bytes ?? ":memory:")
    this.prepared.clear()
    this.changes++
  }

  prepare(sql: string): Database.Statement {
    let statement = this.prepared.get(sql)
    if (statement === undefined) {
      statement = this.current.prepare(sql)
      this.prepared.set(sql, statement)
    }
    return statement
  }

  get inTransaction(): boolean {
    return this.db.inTransaction
  }

  /** What a crash does to the file: the open transaction, if any, is gone. */
  rollback(): void {
    this.changes++
    if (this.db.inTransaction) this.db.exec("ROLLBACK")
  }

  /** Committed rows only: the oracle never reads a transaction in progress. */
  read<A>(sql: string, params: ReadonlyArray<unknown> = []): ReadonlyArray<A> | undefined {
    if (this.db.inTransaction) return undefined
    return this.prepare(sql).all(...params) as ReadonlyArray<A>
  }

  close(): void {
    this.db.close()
  }
}

/**
 * Decides, before each statement of one incarnation of a device, whether the device crashes right there.
 * `pass` returns false once the device is dead (then the statement fails and nothing reaches the database).
 */
export interface Gate {
  readonly pass: (sql: string) => boolean
}

const crashed = () => new SqlError({ message: "the device crashed", cause: "crash" })

/** A SqlClient over `held`, every statement through `gate`. */
export const make = (held: HeldDatabase, gate: Gate): Effect.Effect<Client.SqlClient> =>
  Effect.gen(function* () {
    const compiler = Statement.makeCompilerSqlite()
    const run = (sql: string, params: ReadonlyArray<unknown>, raw: boolean, values: boolean) =>
      Effect.suspend((): Effect.Effect<ReadonlyArray<any>, SqlError> => {
        if (!gate.pass(sql)) return Effect.fail(crashed())
        try {
          const statement = held.prepare(sql)
          if (statement.reader) {
            if (values) {
              statement.raw(true)
              try {
                return Effect.succeed(statement.all(...params))
              } finally {
                statement.raw(false)
              }
            }
            return Effect.succeed(statement.all(...params))
          }
          held.changes++
          const result = statement.run(...params)
          return Effect.succeed(raw ? (result as unknown as ReadonlyArray<any>) : [])
        } catch (cause) {
          return Effect.fail(new SqlError({ cause, message: "Failed to execute statement" }))
        }
      })
    const connection: Connection = {
      execute: (sql, params, transformRows) =>
        transformRows
          ? Effect.map(run(sql, params, false, false), transformRows)
          : run(sql, params, false, false),
      executeRaw: (sql, params) => run(sql, params, true, false),
      executeValues: (sql, params) => run(sql, params, false, true),
      executeUnprepared: (sql, params, transformRows) =>
        transformRows
          ? Effect.map(run(sql, params ?? [], false, false), transformRows)
          : run(sql, params ?? [], false, false),
      executeStream: () => Effect.dieMessage("executeStream is not simulated")
    }
    return yield* oneConnectionClient(connection, compiler, "sqlite")
  })

/**
 * A SqlClient over one connection, which a transaction holds whole: statements of the device run one at a
 * time and no two of its transactions interleave, as on one SQLite connection.
 */
export const oneConnectionClient = (
  connection: Connection,
  compiler: Statement.Compiler,
  system: string
): Effect.Effect<Client.SqlClient> =>
  Effect.gen(function* () {
    const semaphore = yield* Effect.makeSemaphore(1)
    const acquirer = semaphore.withPermits(1)(Effect.succeed(connection))
    const transactionAcquirer = Effect.uninterruptibleMask((restore) =>
      Effect.as(
        Effect.zipRight(
          restore(semaphore.take(1)),
          Effect.flatMap(Effect.scope, (scope) => Scope.addFinalizer(scope, semaphore.release(1)))
        ),
        connection
      )
    )
    return yield* Client.make({
      acquirer,
      compiler,
      transactionAcquirer,
      spanAttributes: [["db.system.name", system]]
    }).pipe(Effect.provide(Reactivity.layer))
  })
