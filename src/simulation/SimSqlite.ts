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
import { Context, Effect, Exit, type Fiber, FiberRef, Option, Scope } from "effect"

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
 * The lock of one connection: Effect's semaphore of one permit, counting who holds it and who is taking it, so
 * a statement can tell when nobody does (then taking and releasing it would change nothing: no one waits to be
 * woken, and the take succeeds at once).
 */
class ConnectionLock {
  private readonly semaphore = Effect.unsafeMakeSemaphore(1)
  private held = 0
  private taking = 0

  /** Nobody holds the lock or waits for it. */
  get free(): boolean {
    return this.held === 0 && this.taking === 0
  }

  readonly take: Effect.Effect<void> = Effect.suspend(() => {
    this.taking++
    return Effect.ensuring(
      Effect.map(this.semaphore.take(1), () => {
        this.held++
      }),
      Effect.sync(() => {
        this.taking--
      })
    )
  })

  /**
   * `take` for a caller in an uninterruptible region (a transaction's start): its wait cannot be interrupted,
   * so there is nothing to undo (`take` registers that, about ten operations).
   */
  readonly takeUninterruptibly: Effect.Effect<void> = Effect.suspend(() => {
    this.taking++
    return Effect.map(this.semaphore.take(1), () => {
      this.taking--
      this.held++
    })
  })

  readonly release: Effect.Effect<void> = Effect.suspend(() => {
    this.held--
    return Effect.asVoid(this.semaphore.release(1))
  })
}

type Execute = (
  connection: Connection,
  sql: string,
  params: ReadonlyArray<unknown>
) => Effect.Effect<unknown, SqlError>

/** What a statement of @effect/sql runs through to reach its connection (not part of its public type). */
interface WithConnection {
  withConnection?: (
    operation: string,
    f: Execute,
    withoutTransform?: boolean
  ) => Effect.Effect<unknown, SqlError>
}

/**
 * A SqlClient over one connection, which a transaction holds whole: statements of the device run one at a
 * time and no two of its transactions interleave, as on one SQLite connection.
 *
 * Statements (`unsafe`, all the stores use) and transactions take a short path to the connection: each
 * statement of @effect/sql otherwise opens a tracing span, a scope and the lock (about 90 Effect operations,
 * most of a simulated device's work); the simulation runs with tracing off, and a statement needs neither the
 * scope nor the lock when no transaction holds the connection and nobody waits for it. Everything else is as
 * @effect/sql does it: inside a transaction a statement runs on the transaction's connection; outside, it waits
 * while a transaction holds the lock; a transaction takes the lock (uninterruptibly, as @effect/sql's does),
 * begins, runs, commits (or rolls back, or keeps a savepoint when nested) and releases the lock. With tracing on,
 * or a row transformer set, statements and transactions take @effect/sql's own path.
 */
export const oneConnectionClient = (
  connection: Connection,
  compiler: Statement.Compiler,
  system: string
): Effect.Effect<Client.SqlClient> =>
  Effect.gen(function* () {
    const lock = new ConnectionLock()
    const acquirer = Effect.uninterruptibleMask((restore) =>
      Effect.as(Effect.zipRight(restore(lock.take), lock.release), connection)
    )
    const transactionAcquirer = Effect.uninterruptibleMask((restore) =>
      Effect.as(
        Effect.zipRight(
          restore(lock.take),
          Effect.flatMap(Effect.scope, (scope) => Scope.addFinalizer(scope, lock.release))
        ),
        connection
      )
    )
    const client = yield* Client.make({
      acquirer,
      compiler,
      transactionAcquirer,
      spanAttributes: [["db.system.name", system]]
    }).pipe(
      // The service itself, not its Layer: building a Layer for each client of each incarnation costs more.
      Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make)
    )

    const plain = (fiber: Fiber.RuntimeFiber<unknown, unknown>) =>
      !fiber.getFiberRef(FiberRef.currentTracerEnabled) &&
      Option.isNone(fiber.getFiberRef(Statement.currentTransformer))

    const unsafe = client.unsafe
    const quickUnsafe = <A extends object>(sql: string, params?: ReadonlyArray<unknown>) => {
      const statement = unsafe<A>(sql, params)
      const own = statement as unknown as WithConnection
      const slow = own.withConnection
      if (slow === undefined) return statement
      own.withConnection = (operation, f, withoutTransform = false) =>
        Effect.withFiberRuntime((fiber) => {
          if (!plain(fiber)) return slow.call(statement, operation, f, withoutTransform)
          const [text, values] = statement.compile(withoutTransform)
          const transaction = Context.getOption(fiber.currentContext, Client.TransactionConnection)
          if (Option.isSome(transaction)) return f(transaction.value[0], text, values)
          if (lock.free) return f(connection, text, values)
          return Effect.flatMap(acquirer, (conn) => f(conn, text, values))
        })
      return statement
    }

    const withTransaction = client.withTransaction
    const quickTransaction: Client.SqlClient["withTransaction"] = (effect) =>
      Effect.withFiberRuntime((fiber) => {
        if (fiber.getFiberRef(FiberRef.currentTracerEnabled)) return withTransaction(effect)
        const context = fiber.currentContext
        const outer = Context.getOption(context, Client.TransactionConnection)
        const conn = Option.isSome(outer) ? outer.value[0] : connection
        const id = Option.isSome(outer) ? outer.value[1] + 1 : 0
        const run = (sql: string) => conn.executeUnprepared(sql, [], undefined)
        const inside = Context.add(context, Client.TransactionConnection, [conn, id] as const)
        return Effect.uninterruptibleMask((restore) => {
          // The body runs with the transaction's connection in its context, set before it and put back in
          // `finish`, which runs however the body ends: what Effect.locally does, in a few operations instead
          // of twenty (its acquire and release are a region of their own).
          const body = Effect.zipRight(
            run(id === 0 ? "BEGIN" : `SAVEPOINT effect_sql_${id}`),
            Effect.zipRight(FiberRef.set(FiberRef.currentContext, inside), restore(effect))
          )
          const finish = Effect.flatMap(Effect.exit(body), (exit) => {
            const end = Exit.isSuccess(exit)
              ? id === 0
                ? Effect.orDie(run("COMMIT"))
                : Effect.void
              : Effect.orDie(run(id > 0 ? `ROLLBACK TO SAVEPOINT effect_sql_${id}` : "ROLLBACK"))
            const outside = FiberRef.set(FiberRef.currentContext, context)
            if (id > 0) return Effect.zipRight(outside, Effect.zipRight(end, exit))
            // The lock is released however the end went (uninterruptible here, so no `ensuring` needed).
            return Effect.zipRight(
              outside,
              Effect.flatMap(Effect.exit(end), (ended) =>
                Effect.zipRight(lock.release, Exit.isSuccess(ended) ? exit : Exit.failCause(ended.cause))
              )
            )
          })
          return id === 0 ? Effect.zipRight(lock.takeUninterruptibly, finish) : finish
        })
      })

    return Object.assign(client, { unsafe: quickUnsafe, withTransaction: quickTransaction })
  })
