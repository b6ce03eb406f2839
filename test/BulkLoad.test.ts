// Bulk loading an empty kind's table (LibraryStore's BulkLoad): pages inserted while the uuid index is
// dropped, the index built at the end. Whatever happens around a load — the process dying between any two
// steps, pages applied twice, a row changing on the peer mid-load, another stream's apply or a local write to
// the same kind — every read during the load and the table after it are what plain upserts of the same
// rows, in the same order, would have left.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, FastCheck as fc, Layer, Option, Schedule, Scope } from "effect"
import Database from "better-sqlite3"
import { join } from "node:path"
import type { DeviceId } from "../src/domain/Ids.js"
import * as Hlc from "../src/domain/Hlc.js"
import type { Row } from "../src/domain/Row.js"
import * as Device from "../src/layers/Device.js"
import * as TransportMemory from "../src/layers/TransportMemory.js"
import { Library } from "../src/services/Library.js"
import { LibraryStore } from "../src/services/LibraryStore.js"
import { deviceA, deviceB, deviceC, entryFields, libraryId, uuidN } from "./support/fixtures.js"
import * as Sim from "./support/sim.js"
import { tempDir } from "./support/tempDir.js"

const LOCATION = uuidN(999)
const ENTRIES = 300

/** An entry row; its fields follow from its version, as a real write's do. */
const entry = (uuid: number, wall: number, counter: number, owner: DeviceId, deleted: boolean): Row => ({
  uuid: uuidN(uuid),
  version: Hlc.toHlcString(Hlc.make(wall, counter, owner)),
  deleted,
  owner,
  fields: entryFields(wall * 10 + counter, LOCATION)
})

const rowArb = fc
  .record({
    uuid: fc.integer({ min: 1, max: 6 }),
    wall: fc.integer({ min: 1, max: 40 }),
    counter: fc.integer({ min: 0, max: 2 }),
    owner: fc.constantFrom(deviceB, deviceC),
    deleted: fc.integer({ min: 0, max: 7 }).map((n) => n === 0)
  })
  .map((r) => entry(r.uuid, r.wall, r.counter, r.owner, r.deleted))

type Step =
  | { readonly op: "bulk"; readonly rows: ReadonlyArray<Row> }
  | { readonly op: "apply"; readonly rows: ReadonlyArray<Row> }
  | { readonly op: "local"; readonly uuid: number }
  | { readonly op: "crash" }
  | { readonly op: "get"; readonly uuid: number }

const page = fc.array(rowArb, { minLength: 1, maxLength: 6 })
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: page.map((rows) => ({ op: "bulk" as const, rows })) },
  { weight: 1, arbitrary: page.map((rows) => ({ op: "apply" as const, rows })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 8 }).map((uuid) => ({ op: "local" as const, uuid })) },
  { weight: 2, arbitrary: fc.constant({ op: "crash" as const }) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 8 }).map((uuid) => ({ op: "get" as const, uuid })) }
)

/** What plain upserts leave: a row replaces the stored one only with the same owner and a higher version. */
const upsertModel = (model: Map<string, Row>, rows: ReadonlyArray<Row>) => {
  for (const row of rows) {
    const held = model.get(row.uuid)
    if (held === undefined || (row.owner === held.owner && row.version > held.version))
      model.set(row.uuid, row)
  }
}

const comparable = (row: Row) => ({
  uuid: row.uuid,
  version: row.version,
  deleted: row.deleted,
  owner: row.owner,
  fields: row.fields
})

/** The unique indexes on the entry table, read from the file itself. */
const uniqueIndexes = (dir: string) => {
  const db = new Database(join(dir, Device.DATABASE_FILE), { readonly: true })
  try {
    return (
      db.prepare(`SELECT name FROM pragma_index_list('entry') WHERE "unique" = 1`).all() as Array<{
        name: string
      }>
    ).map((r) => r.name)
  } finally {
    db.close()
  }
}

describe("bulk load", () => {
  it.live.prop(
    "pages, repeats, other applies, local writes and crashes at any point leave what plain upserts would",
    [fc.array(stepArb, { minLength: 1, maxLength: 25 })],
    ([steps]) =>
      Effect.gen(function* () {
        const dir = yield* tempDir("tidemark-bulk-")
        const model = new Map<string, Row>()
        const open = Effect.gen(function* () {
          const scope = yield* Scope.make()
          const ctx = yield* Scope.extend(
            Layer.build(Device.layerSqlite(dir, { deviceId: deviceA, libraryId })),
            scope
          )
          return { scope, store: Effect.provide(LibraryStore, ctx) }
        })
        let device = yield* open
        let loading = false
        const store = () => device.store
        for (const step of steps) {
          const s = yield* store()
          switch (step.op) {
            case "bulk": {
              // The loader: begins (or resumes after a crash) a load when the table allows one.
              if (!loading) loading = yield* Scope.extend(s.bulk!.begin("entry"), device.scope)
              yield* s.apply("entry", step.rows, { bulk: loading })
              upsertModel(model, step.rows)
              break
            }
            case "apply": {
              yield* s.apply("entry", step.rows)
              upsertModel(model, step.rows)
              break
            }
            case "local": {
              const written = yield* Effect.either(
                s.writeLocal("entry", [{ uuid: uuidN(step.uuid), fields: entryFields(step.uuid, LOCATION) }])
              )
              const held = model.get(uuidN(step.uuid))
              if (held !== undefined && held.owner !== deviceA) {
                expect(Either.isLeft(written) && written.left._tag).toBe("NotOwnerError")
              } else {
                expect(Either.isRight(written)).toBe(true)
                if (Either.isRight(written)) upsertModel(model, written.right)
              }
              break
            }
            case "crash": {
              yield* Scope.close(device.scope, Exit.void)
              device = yield* open
              loading = false
              break
            }
            case "get": {
              const got = yield* s.get("entry", uuidN(step.uuid))
              const expected = model.get(uuidN(step.uuid))
              expect(Option.map(got, comparable)).toEqual(
                Option.map(Option.fromNullable(expected), comparable)
              )
              break
            }
          }
        }
        const s = yield* store()
        yield* s.bulk!.end("entry")
        const rows = yield* s.readAfter("entry", 0, 10_000)
        const table = rows.map(comparable).sort((a, b) => (a.uuid < b.uuid ? -1 : 1))
        const expected = [...model.values()].map(comparable).sort((a, b) => (a.uuid < b.uuid ? -1 : 1))
        expect(table).toEqual(expected)
        yield* Scope.close(device.scope, Exit.void)
        expect(uniqueIndexes(dir)).toEqual(["entry-uuid"])
      }).pipe(Effect.scoped),
    { timeout: 120_000, fastCheck: { numRuns: 60 } }
  )

  /**
   * A backfills ENTRIES entries to B (on disk, pages of 50). When B asks for its third page of entries,
   * `midLoad` runs once: by then B holds two pages, loaded without the uuid index.
   */
  const backfillWith = (midLoad: (a: Sim.Ctx, b: Sim.Ctx, dirB: string) => Effect.Effect<void>) =>
    Effect.gen(function* () {
      const net = yield* Layer.build(Sim.networkLayer)
      const a = yield* Sim.device(net, deviceA)
      yield* Effect.provide(
        Effect.flatMap(Library, (library) =>
          library.write(
            "entry",
            Array.from({ length: ENTRIES }, (_, i) => ({
              uuid: uuidN(10_000 + i),
              fields: entryFields(i, LOCATION)
            }))
          )
        ),
        a
      )
      yield* Sim.startEngine(a, "memory:a", [])
      const dirB = yield* tempDir("tidemark-bulk-b-")
      const b = yield* Sim.deviceOnDisk(net, deviceB, dirB)
      let requests = 0
      let indexesMidLoad: ReadonlyArray<string> | undefined
      yield* Effect.flatMap(Effect.provide(TransportMemory.MemoryNetwork, net), (n) =>
        n.intercept((request) => {
          if (request._tag !== "Pull" || request.resource !== "entry" || ++requests !== 3) return Effect.void
          return Effect.suspend(() => {
            indexesMidLoad = uniqueIndexes(dirB)
            return midLoad(a, b, dirB)
          })
        })
      )
      yield* Sim.startEngine(b, "memory:b", ["memory:a"])
      return { a, b, dirB, indexesMidLoad: () => indexesMidLoad }
    })

  /** B's entry table once its uuid index is built (polled: the index is built right after the last page). */
  const indexedEntries = (b: Sim.Ctx, dirB: string) =>
    Effect.gen(function* () {
      yield* Effect.suspend(() =>
        uniqueIndexes(dirB).length === 1 ? Effect.void : Effect.fail("not indexed yet")
      ).pipe(Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 500 }))
      expect(uniqueIndexes(dirB)).toEqual(["entry-uuid"])
      return yield* Effect.provide(
        Effect.flatMap(LibraryStore, (store) => store.readAfter("entry", 0, 100_000)),
        b
      )
    })

  it.live(
    "a row that changes on the peer mid-load arrives twice and is kept once, at its newest version",
    () =>
      Effect.gen(function* () {
        const changed = uuidN(10_000)
        const { a, b, dirB, indexesMidLoad } = yield* backfillWith((a) =>
          Effect.provide(
            Effect.flatMap(Library, (library) =>
              library.write("entry", [{ uuid: changed, fields: entryFields(77_777, LOCATION) }])
            ),
            a
          ).pipe(Effect.orDie, Effect.asVoid)
        )
        yield* Sim.converged([a, b], (lines) => lines.some((l) => l.includes("file-77777.txt")))
        // The load really ran without the index: it was dropped when B asked for its third page.
        expect(indexesMidLoad()).toEqual([])
        const rows = yield* indexedEntries(b, dirB)
        expect(rows).toHaveLength(ENTRIES)
        expect(rows.find((r) => r.uuid === changed)?.fields.name).toBe("file-77777.txt")
      }).pipe(Effect.scoped)
  )

  it.live("a local write to the kind mid-load ends the load at once and is kept with everything pulled", () =>
    Effect.gen(function* () {
      const local = uuidN(20_000)
      let indexesAfterWrite: ReadonlyArray<string> = []
      const { b, dirB } = yield* backfillWith((_, b, dirB) =>
        Effect.provide(
          Effect.flatMap(Library, (library) =>
            library.write("entry", [{ uuid: local, fields: entryFields(88_888, LOCATION) }])
          ),
          b
        ).pipe(
          Effect.orDie,
          Effect.map(() => {
            indexesAfterWrite = uniqueIndexes(dirB)
          })
        )
      )
      yield* Effect.provide(
        Effect.flatMap(LibraryStore, (store) => store.countAfter("entry", 0)),
        b
      ).pipe(
        Effect.repeat({ until: (n) => n === ENTRIES + 1, schedule: Schedule.spaced("20 millis") }),
        Effect.timeout("20 seconds")
      )
      expect(indexesAfterWrite).toEqual(["entry-uuid"])
      const rows = yield* indexedEntries(b, dirB)
      expect(rows).toHaveLength(ENTRIES + 1)
      expect(rows.find((r) => r.uuid === local)?.owner).toBe(deviceB)
    }).pipe(Effect.scoped)
  )
})
