import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, FastCheck as fc, Option } from "effect"
import type { Row } from "../src/domain/Row.js"
import * as Device from "../src/layers/Device.js"
import { UPSERT_CHUNK_ROWS } from "../src/layers/LibraryStoreSqlite.js"
import { LibraryStore } from "../src/services/LibraryStore.js"
import { deviceA, deviceB, entryFields, libraryId, tagVersionsArb, uuidN } from "./support/fixtures.js"

const memoryDevice = (deviceId = deviceA) => Device.layerMemory({ deviceId, libraryId })

/** The table as a comparable value: uuid → (version, deleted, fields), without local seqs. */
const snapshot = (resource: "tag") =>
  Effect.flatMap(LibraryStore, (store) =>
    Effect.map(store.readAfter(resource, 0, 10_000), (rows) =>
      Object.fromEntries(
        rows
          .map((r) => [r.uuid, { version: r.version, deleted: r.deleted, fields: r.fields }] as const)
          .sort(([a], [b]) => (a < b ? -1 : 1))
      )
    )
  )

const newestOfEach = (rows: ReadonlyArray<Row>) => {
  const best = new Map<string, Row>()
  for (const r of rows) {
    const cur = best.get(r.uuid)
    if (cur === undefined || r.version > cur.version) best.set(r.uuid, r)
  }
  return [...best.values()]
}

describe("LibraryStore", () => {
  it.effect.prop(
    "applying any permutation of row versions, with duplicates, yields the table of the newest of each",
    [
      tagVersionsArb
        .chain((rows) => fc.tuple(fc.constant(rows), fc.subarray(rows)))
        .chain(([rows, dupes]) =>
          fc.tuple(
            fc.constant(rows),
            fc.shuffledSubarray([...rows, ...dupes], { minLength: rows.length + dupes.length }),
            fc.integer({ min: 1, max: 4 })
          )
        )
    ],
    ([[rows, delivered, pageSize]]) =>
      Effect.gen(function* () {
        const applied = yield* Effect.gen(function* () {
          const store = yield* LibraryStore
          for (let i = 0; i < delivered.length; i += pageSize) {
            yield* store.apply("tag", delivered.slice(i, i + pageSize))
          }
          return yield* snapshot("tag")
        }).pipe(Effect.provide(memoryDevice()))
        const reference = yield* Effect.flatMap(LibraryStore, (store) =>
          Effect.zipRight(store.apply("tag", newestOfEach(rows)), snapshot("tag"))
        ).pipe(Effect.provide(memoryDevice(deviceB)))
        expect(applied).toEqual(reference)
      })
  )

  it.effect(
    "every row that changes the table takes a fresh seq; a losing or repeated row changes nothing",
    () =>
      Effect.gen(function* () {
        const store = yield* LibraryStore
        const old = {
          uuid: uuidN(1),
          version: "000000000001.0000.bbbbbbbb-0000-4000-8000-000000000002",
          deleted: false,
          owner: null,
          fields: { name: "old", color: null }
        } as unknown as Row
        const newer = {
          ...old,
          version: "000000000002.0000.bbbbbbbb-0000-4000-8000-000000000002",
          fields: { name: "new", color: null }
        } as unknown as Row
        expect(yield* store.apply("tag", [old])).toBe(1)
        const [first] = yield* store.readAfter("tag", 0, 10)
        expect(yield* store.apply("tag", [newer])).toBe(1)
        expect(yield* store.apply("tag", [newer, old])).toBe(0)
        const rows = yield* store.readAfter("tag", 0, 10)
        expect(rows).toHaveLength(1)
        expect(rows[0]!.fields.name).toBe("new")
        expect(rows[0]!.seq).toBeGreaterThan(first!.seq)
        // A reader whose cursor is past the first seq still sees the change.
        expect(yield* store.readAfter("tag", first!.seq, 10)).toHaveLength(1)
      }).pipe(Effect.provide(memoryDevice()))
  )

  it.effect("a page that fails midway is applied not at all, and the store goes on working", () =>
    Effect.gen(function* () {
      const store = yield* LibraryStore
      const tag = (n: number, uuid: unknown = uuidN(n)) =>
        ({
          uuid,
          version: `00000000000${n}.0000.bbbbbbbb-0000-4000-8000-000000000002`,
          deleted: false,
          owner: null,
          fields: { name: `t${n}`, color: null }
        }) as unknown as Row
      // More rows than one upsert statement takes, the last without a uuid (NOT NULL): the statement of the
      // last chunk fails after the first chunk's statement has run.
      const page = Array.from({ length: UPSERT_CHUNK_ROWS + 1 }, (_, i) => tag(i + 1))
      page[UPSERT_CHUNK_ROWS] = tag(UPSERT_CHUNK_ROWS + 1, null)
      const failed = yield* Effect.exit(store.apply("tag", page))
      expect(Exit.isFailure(failed)).toBe(true)
      expect(String(Exit.isFailure(failed) ? failed.cause : "")).toContain("StoreError")
      expect(yield* store.readAfter("tag", 0, 10)).toEqual([])
      expect(yield* store.apply("tag", [tag(1), tag(2)])).toBe(2)
      expect((yield* store.readAfter("tag", 0, 10)).map((r) => r.fields.name)).toEqual(["t1", "t2"])
    }).pipe(Effect.provide(memoryDevice()))
  )

  it.effect("local writes are stamped by this device, paged by seq and counted after a cursor", () =>
    Effect.gen(function* () {
      const store = yield* LibraryStore
      const location = uuidN(1000)
      yield* store.writeLocal("location", [
        { uuid: location, fields: { volume: null, path: "/home", name: "home" } }
      ])
      yield* store.writeLocal(
        "entry",
        Array.from({ length: 25 }, (_, i) => ({ uuid: uuidN(i + 1), fields: entryFields(i, location) }))
      )
      const page1 = yield* store.readAfter("entry", 0, 10)
      const page2 = yield* store.readAfter("entry", page1.at(-1)!.seq, 10)
      const page3 = yield* store.readAfter("entry", page2.at(-1)!.seq, 10)
      expect([page1.length, page2.length, page3.length]).toEqual([10, 10, 5])
      const all = [...page1, ...page2, ...page3]
      expect(new Set(all.map((r) => r.uuid)).size).toBe(25)
      expect(all.every((r) => r.owner === deviceA && r.version.endsWith(deviceA))).toBe(true)
      expect(all.map((r) => r.version)).toEqual([...all.map((r) => r.version)].sort())
      expect(yield* store.countAfter("entry", page1.at(-1)!.seq)).toBe(15)
      expect(yield* store.lastSeq("entry")).toBe(page3.at(-1)!.seq)
    }).pipe(Effect.provide(memoryDevice()))
  )

  it.effect("a local update always wins over the previous local write", () =>
    Effect.gen(function* () {
      const store = yield* LibraryStore
      const uuid = uuidN(7)
      yield* store.writeLocal("tag", [{ uuid, fields: { name: "a", color: null } }])
      yield* store.writeLocal("tag", [{ uuid, fields: { name: "b", color: "red" } }])
      const row = yield* store.get("tag", uuid)
      expect(Option.map(row, (r) => r.fields)).toEqual(Option.some({ name: "b", color: "red" }))
    }).pipe(Effect.provide(memoryDevice()))
  )

  it.effect("writing another device's row fails with NotOwnerError and writes nothing of the batch", () =>
    Effect.gen(function* () {
      const store = yield* LibraryStore
      const foreign = uuidN(9)
      yield* store.apply("location", [
        {
          uuid: foreign,
          version: "000000000001.0000.bbbbbbbb-0000-4000-8000-000000000002",
          deleted: false,
          owner: deviceB,
          fields: { volume: null, path: "/b", name: "b" }
        } as unknown as Row
      ])
      const result = yield* Effect.exit(
        store.writeLocal("location", [
          { uuid: uuidN(10), fields: { volume: null, path: "/mine", name: "mine" } },
          { uuid: foreign, fields: { volume: null, path: "/stolen", name: "stolen" } }
        ])
      )
      expect(Exit.isFailure(result) && JSON.stringify(result.cause)).toContain("NotOwnerError")
      expect(Option.isNone(yield* store.get("location", uuidN(10)))).toBe(true)
      expect(Option.map(yield* store.get("location", foreign), (r) => r.fields.path)).toEqual(
        Option.some("/b")
      )
    }).pipe(Effect.provide(memoryDevice()))
  )

  it.effect("a row that does not match its kind's schema is refused with InvalidRowError", () =>
    Effect.gen(function* () {
      const store = yield* LibraryStore
      const result = yield* Effect.either(
        store.writeLocal("entry", [{ uuid: uuidN(1), fields: { name: "" } }])
      )
      expect(Either.isLeft(result) && result.left._tag).toBe("InvalidRowError")
      expect(yield* store.lastSeq("entry")).toBe(0)
    }).pipe(Effect.provide(memoryDevice()))
  )
})
