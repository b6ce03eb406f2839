// A simulated device opens its databases as the product does, and a new one from a copy of a database the
// migrations made once (SimOpen.ts): that copy must be exactly what running the migrations leaves, with a
// store id of its own, and the migrations must still run through the crash gate whenever a crash is armed.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { storeIdentityTable } from "../src/layers/LibraryDbSchema.js"
import * as Runtime from "../src/simulation/Runtime.js"
import * as SimOpen from "../src/simulation/SimOpen.js"
import { SimCatalog } from "../src/simulation/SimSchema.js"
import * as SimSqlite from "../src/simulation/SimSqlite.js"

const STORE_ID = `SELECT store_id AS id FROM ${storeIdentityTable({ prefix: "" })}`

/** A device's two held databases, opened once through a gate that counts statements. */
const openDevice = async (armed: boolean) => {
  const held = { library: new SimSqlite.HeldDatabase(), sync: new SimSqlite.HeldDatabase() }
  const gate = { passed: 0, skipped: 0, pass: () => (gate.passed++, true) }
  const images = await SimOpen.images(SimCatalog)
  const result = await Runtime.run(
    Effect.gen(function* () {
      const clients = {
        library: yield* SimSqlite.make(held.library, gate),
        sync: yield* SimSqlite.make(held.sync, gate)
      }
      yield* SimOpen.open(held, clients, SimCatalog, {
        images,
        armed,
        skip: (n) => {
          gate.skipped += n
        }
      })
    }).pipe(Effect.withTracerEnabled(false)),
    0
  )
  expect(result.exit).toEqual(Exit.void)
  return { held, gate }
}

/**
 * Everything a database holds that a statement can read: its schema (every table, index and its SQL), the
 * pragmas that shape it, and every row of every table in rowid order, with the two values the migrations
 * draw afresh on every run (the store id, when each migration ran) left out.
 */
const contents = (held: SimSqlite.HeldDatabase) => {
  const db = held.db
  const schema = db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").all()
  const pragmas = ["user_version", "application_id", "page_size", "encoding", "auto_vacuum"].map((p) =>
    db.pragma(p, { simple: true })
  )
  const tables = (schema as Array<{ type: string; name: string }>).filter((t) => t.type === "table")
  const rows = tables.map(({ name }) =>
    (db.prepare(`SELECT * FROM "${name}" ORDER BY rowid`).all() as Array<Record<string, unknown>>).map(
      (row) => {
        const { store_id: _, created_at: __, ...rest } = row
        return rest
      }
    )
  )
  return { schema, pragmas, rows }
}

describe("SimOpen", () => {
  it("a new device's databases from the image hold exactly what its migrations make", async () => {
    const fromImage = await openDevice(false)
    const migrated = await openDevice(true)
    // The migrated device ran every statement of the open through its gate; the image stands for as many.
    expect(migrated.gate.passed).toBeGreaterThan(10)
    expect(migrated.gate.skipped).toBe(0)
    expect(fromImage.gate.passed).toBe(0)
    expect(fromImage.gate.skipped).toBe(migrated.gate.passed)
    expect(contents(fromImage.held.library)).toEqual(contents(migrated.held.library))
    expect(contents(fromImage.held.sync)).toEqual(contents(migrated.held.sync))
    // sync.db draws nothing at random: apart from when the migrations ran, the very same bytes.
    const bytes = (held: SimSqlite.HeldDatabase) => {
      const copy = new SimSqlite.HeldDatabase()
      copy.load(held.db.serialize())
      copy.db.exec(`UPDATE tidemark_migrations SET created_at = '2026-01-01 00:00:00'`)
      const out = copy.db.serialize()
      copy.close()
      return out
    }
    expect(bytes(fromImage.held.sync).equals(bytes(migrated.held.sync))).toBe(true)
  })

  it("every device started from the image has a store id of its own", async () => {
    const a = await openDevice(false)
    const b = await openDevice(false)
    const idOf = (d: typeof a) => (d.held.library.db.prepare(STORE_ID).get() as { id: string }).id
    expect(idOf(a)).toMatch(/^[0-9a-f-]{36}$/)
    expect(idOf(a)).not.toBe(idOf(b))
  })

  it("a restart runs no migration, only the check that the kind tables are in place", async () => {
    const { held } = await openDevice(false)
    const gate = { statements: [] as Array<string>, pass: (sql: string) => (gate.statements.push(sql), true) }
    const result = await Runtime.run(
      Effect.gen(function* () {
        const clients = {
          library: yield* SimSqlite.make(held.library, gate),
          sync: yield* SimSqlite.make(held.sync, gate)
        }
        yield* SimOpen.open(held, clients, SimCatalog, {
          images: yield* Effect.promise(() => SimOpen.images(SimCatalog)),
          armed: false,
          skip: () => {}
        })
      }).pipe(Effect.withTracerEnabled(false)),
      0
    )
    expect(result.exit).toEqual(Exit.void)
    expect(gate.statements).toHaveLength(1)
    expect(gate.statements[0]).toContain("pragma_table_info")
  })
})
