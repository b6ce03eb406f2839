// A simulated device whose stores live in PostgreSQL, as a hub's do: one schema of a real server, held by the
// simulator across the device's crashes and restarts, reached through one connection whose every statement
// (BEGIN and COMMIT included) first passes the device's crash gate, as on SimSqlite. Statements run through
// the runtime's `Outside`, one at a time, so the simulation stands still while PostgreSQL works and a seed
// stays a deterministic function of its plan. The oracle reads SQLite: before each judgement the simulator
// copies the schema's committed tables (read on a second connection, so an open transaction of the device is
// never seen) into in-memory SQLite shadows.
// Keeps: a crash leaves exactly what was committed (the open transaction is rolled back before any other
// statement reaches the server, and nothing of the dead incarnation reaches it after).
import type * as Client from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Clock, Effect, Layer } from "effect"
import Pg from "pg"
import type { DeviceId, LibraryId } from "../domain/Ids.js"
import * as Device from "../layers/Device.js"
import * as HlcClockPg from "../layers/HlcClockPg.js"
import * as Hub from "../layers/Hub.js"
import * as LibraryDbSchemaPg from "../layers/LibraryDbSchemaPg.js"
import { LibraryDb, SyncDb } from "../layers/Sqlite.js"
import * as SyncDbSchemaPg from "../layers/SyncDbSchemaPg.js"
import { Kinds } from "../services/Kinds.js"
import { LocalDevice } from "../services/LocalDevice.js"
import type { Readable } from "./Oracle.js"
import { Outside } from "./Runtime.js"
import { SimCatalog } from "./SimSchema.js"
import { type Gate, HeldDatabase, oneConnectionClient } from "./SimSqlite.js"

const INT8_OID = 20

/** The coordination tables the oracle reads. */
const ORACLE_SYNC_TABLES = ["device_resource_watermarks", "backfill_checkpoints", "shared_changes"]

/** BIGINT as numbers, as the hub's own pool reads them (Postgres.ts). */
const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8_OID && format !== "binary"
      ? (value: string) => Number(value)
      : Pg.types.getTypeParser(oid, format)) as typeof Pg.types.getTypeParser
}

/** A SQLite copy of some of a schema's tables, as they were at the last refresh. */
class Shadow implements Readable {
  private db = new HeldDatabase()
  /** A copy holds committed rows only. */
  readonly inTransaction = false
  /** Moves at each refresh. */
  changes = 0

  read<A>(sql: string, params: ReadonlyArray<unknown> = []): ReadonlyArray<A> | undefined {
    return this.db.read<A>(sql, params)
  }

  load(
    tables: ReadonlyArray<{ name: string; columns: ReadonlyArray<string>; rows: ReadonlyArray<unknown[]> }>
  ) {
    this.db.close()
    this.db = new HeldDatabase()
    this.changes++
    for (const t of tables) {
      const columns = t.columns.map((c) => `"${c}"`).join(", ")
      this.db.db.exec(`CREATE TABLE "${t.name}" (${columns})`)
      const insert = this.db.db.prepare(
        `INSERT INTO "${t.name}" VALUES (${t.columns.map(() => "?").join(", ")})`
      )
      for (const row of t.rows) insert.run(...row)
    }
  }

  close() {
    this.db.close()
  }
}

/** One device's schema on the server, its connection, the oracle's connection, and the shadows. */
export class HeldSchema {
  /** Kind tables (`kind_<name>` on the server, `<name>` here), as database.db would hold them. */
  readonly library = new Shadow()
  /** Every other table of the schema, as sync.db would hold them. */
  readonly sync = new Shadow()
  private outside: Outside["Type"] | undefined

  private constructor(
    readonly schema: string,
    private readonly device: Pg.Client,
    private readonly reader: Pg.Client
  ) {}

  /** A fresh, empty schema `schema` on the server at `url` (dropped first if a previous run left it). */
  static async open(url: string, schema: string): Promise<HeldSchema> {
    const connect = async () => {
      const client = new Pg.Client({ connectionString: url, options: `-c search_path=${schema}`, types })
      await client.connect()
      return client
    }
    const device = await connect()
    await device.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await device.query(`CREATE SCHEMA ${schema}`)
    return new HeldSchema(schema, device, await connect())
  }

  /** What a crash does to the connection: the open transaction, if any, is gone before anything else runs. */
  rollback(): void {
    this.outside?.fire(() => this.device.query("ROLLBACK"))
  }

  /** The schema's tables, once all that the oracle reads exist (no table is created after that). */
  private tables: ReadonlyArray<string> | undefined

  private async tableNames(): Promise<ReadonlyArray<string>> {
    if (this.tables !== undefined) return this.tables
    const result = await this.reader.query<{ name: string }>(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
      [this.schema]
    )
    const names = result.rows.map((r) => r.name)
    const expected = [
      ...SimCatalog.names.map((kind) => `${LibraryDbSchemaPg.PG_TABLES.prefix}${kind}`),
      ...ORACLE_SYNC_TABLES
    ]
    if (expected.every((name) => names.includes(name))) this.tables = names
    return names
  }

  /** Copy the committed tables into the shadows, in one round trip once the tables are known. */
  get refresh(): Effect.Effect<void, unknown, Outside> {
    return Effect.flatMap(Outside, (outside) =>
      outside.run(async () => {
        const names = await this.tableNames()
        if (names.length === 0) return
        const result = await this.reader.query<Record<string, Array<Record<string, unknown>>>>(
          `SELECT ${names.map((name, i) => `(SELECT coalesce(json_agg(t), '[]') FROM "${name}" t) AS t${i}`).join(", ")}`
        )
        const columns = await this.columns(names)
        const row = result.rows[0]!
        const library = []
        const sync = []
        for (const [i, name] of names.entries()) {
          const cols = columns.get(name) ?? []
          const table = { columns: cols, rows: row[`t${i}`]!.map((r) => cols.map((c) => r[c] ?? null)) }
          const prefix = LibraryDbSchemaPg.PG_TABLES.prefix
          if (name.startsWith(prefix)) library.push({ ...table, name: name.slice(prefix.length) })
          else sync.push({ ...table, name })
        }
        this.library.load(library)
        this.sync.load(sync)
      })
    )
  }

  private readonly columnsOf = new Map<string, ReadonlyArray<string>>()

  /** Each table's columns in order (kept once the tables are all there). */
  private async columns(names: ReadonlyArray<string>): Promise<Map<string, ReadonlyArray<string>>> {
    if (this.tables !== undefined && this.columnsOf.size > 0) return this.columnsOf
    const result = await this.reader.query<{ t: string; c: string }>(
      "SELECT table_name AS t, column_name AS c FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position",
      [this.schema]
    )
    const byTable = new Map<string, Array<string>>()
    for (const { t, c } of result.rows) byTable.set(t, [...(byTable.get(t) ?? []), c])
    this.columnsOf.clear()
    for (const name of names) this.columnsOf.set(name, byTable.get(name) ?? [])
    return this.columnsOf
  }

  /** A SqlClient over the device's connection, every statement through `gate`, run outside the simulation. */
  client(gate: Gate): Effect.Effect<Client.SqlClient, never, Outside> {
    const held = this
    return Effect.gen(function* () {
      const outside = yield* Outside
      held.outside = outside
      const run = (sql: string, params: ReadonlyArray<unknown>, mode: "rows" | "raw" | "values") =>
        Effect.suspend((): Effect.Effect<ReadonlyArray<any>, SqlError> => {
          if (!gate.pass(sql))
            return Effect.fail(new SqlError({ message: "the device crashed", cause: "crash" }))
          return outside
            .run(() =>
              held.device.query({
                text: sql,
                values: [...params],
                ...(mode === "values" ? { rowMode: "array" as const } : {})
              })
            )
            .pipe(
              Effect.map((result) =>
                mode === "raw" ? (result as unknown as ReadonlyArray<any>) : result.rows
              ),
              Effect.mapError((cause) => new SqlError({ cause, message: "Failed to execute statement" }))
            )
        })
      const connection: Connection = {
        execute: (sql, params, transformRows) =>
          transformRows ? Effect.map(run(sql, params, "rows"), transformRows) : run(sql, params, "rows"),
        executeRaw: (sql, params) => run(sql, params, "raw"),
        executeValues: (sql, params) => run(sql, params, "values"),
        executeUnprepared: (sql, params, transformRows) =>
          transformRows
            ? Effect.map(run(sql, params ?? [], "rows"), transformRows)
            : run(sql, params ?? [], "rows"),
        executeStream: () => Effect.dieMessage("executeStream is not simulated")
      }
      // One connection, as on SimSqlite: two would wait on each other's row locks while the simulation
      // waits on the server.
      return yield* oneConnectionClient(connection, PgClient.makeCompiler(), "postgresql")
    })
  }

  async close(): Promise<void> {
    this.library.close()
    this.sync.close()
    await this.device.end()
    await this.reader.end()
  }
}

/**
 * The stores of a hub device over `held`, its tables created or migrated first (in one transaction, through
 * the gate, so a crash can strike there too), its clock `skew` ms off the simulated time.
 */
export const deviceStores = (
  held: HeldSchema,
  gate: Gate,
  identity: { readonly deviceId: DeviceId; readonly libraryId: LibraryId },
  options: { readonly maxDriftMillis: number; readonly skew: () => number }
) =>
  Effect.gen(function* () {
    const client = yield* held.client(gate)
    yield* client.withTransaction(
      Effect.zipRight(SyncDbSchemaPg.migrate(client), LibraryDbSchemaPg.migrate(client, SimCatalog))
    )
    const device = Layer.merge(
      LocalDevice.layer(identity.deviceId, identity.libraryId),
      Layer.succeed(Kinds, SimCatalog)
    )
    const storage = Layer.merge(Layer.succeed(LibraryDb, client), Layer.succeed(SyncDb, client))
    return Device.assemble({
      device,
      clock: HlcClockPg.layer({
        maxDriftMillis: options.maxDriftMillis,
        wallClock: Effect.map(Clock.currentTimeMillis, (t) => t + options.skew())
      }).pipe(Layer.provide(Layer.merge(storage, device))),
      libraryDb: storage,
      syncStores: Hub.syncStores.pipe(Layer.provide(Layer.merge(storage, device))),
      tables: undefined,
      overrides: undefined,
      libraryStore: Hub.libraryStore
    })
  })
