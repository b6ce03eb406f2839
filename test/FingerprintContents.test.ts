// Fingerprints cover each row's contents: a row edited in place (same version) changes the fingerprint of its
// range and of no other, a store's fingerprint is the canonical encoding of the rows it reads back (so what
// verify compares row by row is what the fingerprints compared), and SQLite and PostgreSQL devices holding the
// same rows compute the same fingerprints.
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, FastCheck as fc, Layer, Schema } from "effect"
import { schema, unsafeCompile } from "../src/domain/Catalog.js"
import * as Fingerprint from "../src/domain/Fingerprint.js"
import * as Hlc from "../src/domain/Hlc.js"
import { Uuid } from "../src/domain/Ids.js"
import { shared } from "../src/domain/Resource.js"
import type { ResourceType } from "../src/domain/Resource.js"
import type { Row } from "../src/domain/Row.js"
import * as Device from "../src/layers/Device.js"
import { LibraryDb } from "../src/layers/Sqlite.js"
import { LibraryStore } from "../src/services/LibraryStore.js"
import { deviceA, deviceB, libraryId } from "./support/fixtures.js"
import { describePostgres, freshSchema, serverForFile } from "./support/postgres.js"

const Probe = shared("probe", {
  title: Schema.String,
  size: Schema.Int,
  ratio: Schema.Number,
  done: Schema.Boolean,
  note: Schema.NullOr(Schema.String),
  mood: Schema.Literal("calm", "busy")
})
const catalog = unsafeCompile(schema(Probe))
const probe = "probe" as ResourceType

const rowArb = fc.record({
  n: fc.integer({ min: 0, max: 0xffff_ffff }),
  wall: fc.integer({ min: 1, max: 2 ** 40 }),
  deleted: fc.boolean(),
  title: fc.string({ maxLength: 12 }),
  size: fc.maxSafeInteger(),
  ratio: fc.double({ noNaN: true, noDefaultInfinity: true }),
  done: fc.boolean(),
  note: fc.option(fc.string({ maxLength: 8 }), { nil: null }),
  mood: fc.constantFrom("calm", "busy")
})
const rowsArb = fc.uniqueArray(rowArb, { minLength: 1, maxLength: 40, selector: (r) => r.n })

const toRow = (r: typeof rowArb extends fc.Arbitrary<infer T> ? T : never): Row => ({
  uuid: Uuid.make(`${r.n.toString(16).padStart(8, "0")}-0000-4000-8000-000000000000`),
  version: Hlc.toHlcString(Hlc.make(r.wall, 0, deviceB)),
  deleted: r.deleted,
  owner: null,
  fields: { title: r.title, size: r.size, ratio: r.ratio, done: r.done, note: r.note, mood: r.mood }
})

const memoryDevice = Layer.build(Device.layerMemory({ deviceId: deviceA, libraryId }, { kinds: catalog }))

/** The fingerprint of every range: the whole set and its 17 parts. */
const fingerprints = (store: LibraryStore["Type"]) =>
  Effect.forEach([Fingerprint.FULL_RANGE, ...Fingerprint.split(Fingerprint.FULL_RANGE)], (range) =>
    store.fingerprint(probe, range)
  )

describe("fingerprints over contents", () => {
  it.effect.prop(
    "a store's fingerprint is that of the canonical contents of the rows it reads back",
    [rowsArb],
    ([rows]) =>
      Effect.scoped(
        Effect.gen(function* () {
          const store = Context.get(yield* memoryDevice, LibraryStore)
          yield* store.apply(probe, rows.map(toRow))
          const stored = yield* store.readRange(probe, Fingerprint.FULL_RANGE, "", 10_000)
          const contents = Fingerprint.contents(catalog.kind(probe).columns)
          const acc = Fingerprint.accumulator()
          for (const r of stored) acc.add(r.uuid, r.version, contents.ofRow(r))
          expect(yield* store.fingerprint(probe, Fingerprint.FULL_RANGE)).toEqual(acc.result())
        })
      ),
    { fastCheck: { numRuns: 25 } }
  )

  it.scoped(
    "a row edited in place at the same version changes the fingerprint of its range and no other",
    () =>
      Effect.gen(function* () {
        const device = yield* memoryDevice
        const store = Context.get(device, LibraryStore)
        const rows = Array.from({ length: 50 }, (_, i) =>
          toRow({
            n: i * 0x0500_0000,
            wall: 1 + i,
            deleted: false,
            title: `t${i}`,
            size: i,
            ratio: i / 3,
            done: i % 2 === 0,
            note: null,
            mood: "calm"
          })
        )
        yield* store.apply(probe, rows)
        const before = yield* fingerprints(store)
        const target = rows[20]!
        yield* Context.get(device, LibraryDb).unsafe(`UPDATE probe SET done = 1 - done WHERE uuid = ?`, [
          target.uuid
        ])
        const after = yield* fingerprints(store)
        const ranges = [Fingerprint.FULL_RANGE, ...Fingerprint.split(Fingerprint.FULL_RANGE)]
        const changed = ranges.filter((_, i) => !Fingerprint.equals(before[i]!, after[i]!))
        expect(changed).toEqual([
          Fingerprint.FULL_RANGE,
          ranges.find((r) => r.lo !== "" && target.uuid >= r.lo && target.uuid < r.hi)
        ])
        expect(after[0]!.count).toBe(before[0]!.count)
      })
  )
})

describePostgres("fingerprints on PostgreSQL and SQLite", () => {
  const server = serverForFile()
  it.effect.prop(
    "a PostgreSQL hub and a SQLite device holding the same rows have the same fingerprints",
    [rowsArb],
    ([rows]) =>
      Effect.scoped(
        Effect.gen(function* () {
          const sqlite = Context.get(yield* memoryDevice, LibraryStore)
          const pg = Context.get(
            yield* Layer.build(
              Device.layerPostgres(
                { url: server.url(), schema: freshSchema() },
                { deviceId: deviceA, libraryId },
                { kinds: catalog }
              )
            ),
            LibraryStore
          )
          yield* sqlite.apply(probe, rows.map(toRow))
          yield* pg.apply(probe, rows.map(toRow))
          expect(yield* fingerprints(pg)).toEqual(yield* fingerprints(sqlite))
        })
      ),
    { fastCheck: { numRuns: 10 } }
  )
})
