// database.db across versions of an application's schema: what reopening a file with a changed catalog does
// (a new kind, a new nullable field, a removed field open; a new non-nullable field or a changed type fails
// and changes nothing), prefixes that keep two catalogs apart in one file, and values that read back as they
// were written, through get and through a page as a peer receives it.
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Arbitrary, Cause, Effect, Either, Exit, FastCheck as fc, Layer, Option, Schema } from "effect"
import { join } from "node:path"
import { type AppSchema, decodeRow, schema, unsafeCompile } from "../src/domain/Catalog.js"
import type { DeviceId, Uuid } from "../src/domain/Ids.js"
import { owned, ref, shared } from "../src/domain/Resource.js"
import * as HlcClockMemory from "../src/layers/HlcClockMemory.js"
import * as LibraryDbSchema from "../src/layers/LibraryDbSchema.js"
import * as LibraryStoreSqlite from "../src/layers/LibraryStoreSqlite.js"
import * as Kinds from "../src/services/Kinds.js"
import { LibraryStore } from "../src/services/LibraryStore.js"
import { LocalDevice } from "../src/services/LocalDevice.js"
import { deviceA, deviceB, libraryId, uuidN } from "./support/fixtures.js"
import { tempDir } from "./support/tempDir.js"

/** database.db at `file` opened with `app`'s kinds: the migration runs when the layer is built. */
const storeLayer = (file: string, app: AppSchema, options: { prefix?: string; device?: DeviceId } = {}) => {
  const names = { prefix: options.prefix ?? "" }
  return LibraryStoreSqlite.layer(names).pipe(
    Layer.provideMerge(Layer.merge(LibraryDbSchema.layer(file, names), HlcClockMemory.layer)),
    Layer.provideMerge(Layer.merge(Kinds.layer(app), LocalDevice.layer(options.device ?? deviceA, libraryId)))
  )
}

/** Open `file` with `app`, run `f` on its store, close it. */
const withStore = <A, E>(
  file: string,
  app: AppSchema,
  f: (store: LibraryStore["Type"]) => Effect.Effect<A, E>,
  options: { prefix?: string; device?: DeviceId } = {}
) => Effect.flatMap(LibraryStore, f).pipe(Effect.provide(storeLayer(file, app, options)))

/** How opening `file` with `app` fails. */
const openFailure = (file: string, app: AppSchema) => Effect.flip(withStore(file, app, () => Effect.void))

/** The columns (name, declared type) of every table in the file, read beside the engine. */
const tablesOf = (file: string) => {
  const db = new Database(file, { readonly: true })
  try {
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all() as Array<{ name: string }>
    return Object.fromEntries(
      tables.map(({ name }) => [
        name,
        (
          db.prepare("SELECT name, type FROM pragma_table_info(?)").all(name) as Array<{
            name: string
            type: string
          }>
        )
          .map((c) => `${c.name} ${c.type}`)
          .join(", ")
      ])
    )
  } finally {
    db.close()
  }
}

const write = (store: LibraryStore["Type"], kind: string, uuid: Uuid, fields: Record<string, unknown>) =>
  Effect.map(store.writeLocal(kind, [{ uuid, fields }]), (rows) => rows[0]!)

const fieldsOf = (store: LibraryStore["Type"], kind: string, uuid: Uuid) =>
  Effect.map(
    store.get(kind, uuid),
    Option.map((r) => r.fields)
  )

const NoteV1 = owned("note", { title: Schema.String })
const V1 = schema(NoteV1)

describe("reopening database.db with a changed schema", () => {
  it.scopedLive(
    "a new kind and a new nullable field: old rows read back with NULL, new writes of both work",
    () =>
      Effect.gen(function* () {
        const file = join(yield* tempDir(), "database.db")
        yield* withStore(file, V1, (store) => write(store, "note", uuidN(1), { title: "milk" }))

        const Label = shared("label", { name: Schema.String })
        const NoteV2 = owned("note", {
          title: Schema.String,
          color: Schema.NullOr(Schema.String),
          label: Schema.NullOr(ref("label"))
        })
        const V2 = schema(NoteV2, Label)
        yield* withStore(file, V2, (store) =>
          Effect.gen(function* () {
            expect(yield* fieldsOf(store, "note", uuidN(1))).toEqual(
              Option.some({ title: "milk", color: null, label: null })
            )
            yield* write(store, "label", uuidN(10), { name: "groceries" })
            yield* write(store, "note", uuidN(2), { title: "eggs", color: "red", label: uuidN(10) })
            yield* write(store, "note", uuidN(1), { title: "milk", color: "blue", label: null })
          })
        )
        // Reopened with v2 again: nothing to migrate, everything reads back.
        const [notes, labels] = yield* withStore(file, V2, (store) =>
          Effect.all([store.readAfter("note", 0, 100), store.readAfter("label", 0, 100)])
        )
        expect(Object.fromEntries(notes.map((r) => [r.uuid, r.fields]))).toEqual({
          [uuidN(1)]: { title: "milk", color: "blue", label: null },
          [uuidN(2)]: { title: "eggs", color: "red", label: uuidN(10) }
        })
        expect(labels.map((r) => r.fields)).toEqual([{ name: "groceries" }])
        expect(tablesOf(file)["note"]).toBe(
          "seq INTEGER, uuid TEXT, version TEXT, deleted INTEGER, owner TEXT, title TEXT, color TEXT, label TEXT"
        )
      })
  )

  it.scopedLive("a new non-nullable field fails with SchemaMigrationError and changes nothing", () =>
    Effect.gen(function* () {
      const file = join(yield* tempDir(), "database.db")
      yield* withStore(file, V1, (store) => write(store, "note", uuidN(1), { title: "milk" }))
      const before = tablesOf(file)
      // In dependency order `label` is created and `note.color` added before `note.priority` fails: the
      // migration is one transaction, so neither stays.
      const V2 = schema(
        shared("label", { name: Schema.String }),
        owned("note", { title: Schema.String, color: Schema.NullOr(Schema.String), priority: Schema.Int })
      )
      const e = yield* openFailure(file, V2)
      expect(e._tag).toBe("SchemaMigrationError")
      expect(e).toMatchObject({ kind: "note", field: "priority" })
      expect(tablesOf(file)).toEqual(before)
      expect(before["label"]).toBeUndefined()
      // The file still opens with v1 and holds its row.
      expect(yield* withStore(file, V1, (store) => fieldsOf(store, "note", uuidN(1)))).toEqual(
        Option.some({ title: "milk" })
      )
    })
  )

  it.scopedLive.each([
    ["String → Int", Schema.String, Schema.Int],
    ["Int → String", Schema.Int, Schema.String],
    ["Int → Number", Schema.Int, Schema.Number],
    ["Int → Boolean", Schema.Int, Schema.Boolean],
    ["Boolean → Int", Schema.Boolean, Schema.Int],
    ["NullOr(String) → NullOr(Int)", Schema.NullOr(Schema.String), Schema.NullOr(Schema.Int)]
  ] as const)("a field whose type changes (%s) fails with SchemaMigrationError", ([, from, to]) =>
    Effect.gen(function* () {
      const file = join(yield* tempDir(), "database.db")
      yield* withStore(file, schema(owned("note", { title: Schema.String, x: from })), () => Effect.void)
      const before = tablesOf(file)
      const e = yield* openFailure(file, schema(owned("note", { title: Schema.String, x: to })))
      expect(e._tag).toBe("SchemaMigrationError")
      expect(e).toMatchObject({ kind: "note", field: "x" })
      expect(tablesOf(file)).toEqual(before)
    })
  )

  it.scopedLive("a field removed: the file opens and rows read back without it; writes go on", () =>
    Effect.gen(function* () {
      const file = join(yield* tempDir(), "database.db")
      const Before = schema(owned("note", { title: Schema.String, color: Schema.String }))
      yield* withStore(file, Before, (store) =>
        write(store, "note", uuidN(1), { title: "milk", color: "red" })
      )
      yield* withStore(file, V1, (store) =>
        Effect.gen(function* () {
          expect(yield* fieldsOf(store, "note", uuidN(1))).toEqual(Option.some({ title: "milk" }))
          yield* write(store, "note", uuidN(2), { title: "eggs" })
          const page = yield* store.readPage("note", 0, 100)
          expect(page.rows.map((r) => r.fields)).toEqual([{ title: "milk" }, { title: "eggs" }])
          // Rows it writes pass the kind's own check when a peer on v1 receives them.
          for (const row of page.rows) {
            expect(Either.isRight(decodeRow(unsafeCompile(V1).kind("note"), row))).toBe(true)
          }
        })
      )
      // The column stays (a migration never drops data): the old value is still in the file.
      expect(tablesOf(file)["note"]).toContain("color TEXT")
    })
  )
})

describe("table prefixes", () => {
  it.scopedLive(
    "two catalogs with different prefixes in one file do not clash, even over a kind's name",
    () =>
      Effect.gen(function* () {
        const file = join(yield* tempDir(), "database.db")
        const A = schema(owned("note", { title: Schema.String }))
        const B = schema(owned("note", { count: Schema.Int, done: Schema.Boolean }))
        yield* withStore(file, A, (store) => write(store, "note", uuidN(1), { title: "a" }), { prefix: "a_" })
        yield* withStore(file, B, (store) => write(store, "note", uuidN(1), { count: 7, done: true }), {
          prefix: "b_"
        })
        // A catalog without a prefix beside them: its migrations table is tidemark_migrations.
        yield* withStore(file, A, (store) => write(store, "note", uuidN(2), { title: "plain" }))
        yield* withStore(file, A, (store) => write(store, "note", uuidN(3), { title: "a again" }), {
          prefix: "a_"
        })

        const read = (app: AppSchema, prefix: string) =>
          withStore(file, app, (store) => store.readAfter("note", 0, 100), { prefix }).pipe(
            Effect.map((rows) => rows.map((r) => [r.uuid, r.fields]))
          )
        expect(yield* read(A, "a_")).toEqual([
          [uuidN(1), { title: "a" }],
          [uuidN(3), { title: "a again" }]
        ])
        expect(yield* read(B, "b_")).toEqual([[uuidN(1), { count: 7, done: true }]])
        expect(yield* read(A, "")).toEqual([[uuidN(2), { title: "plain" }]])
        expect(Object.keys(tablesOf(file)).sort()).toEqual([
          "a_migrations",
          "a_note",
          "a_seq_counter",
          "a_store_identity",
          "a_store_openings",
          "b_migrations",
          "b_note",
          "b_seq_counter",
          "b_store_identity",
          "b_store_openings",
          "note",
          "seq_counter",
          "store_identity",
          "store_openings",
          "tidemark_migrations"
        ])
        // Each prefix's store has an identity of its own.
        const ids = yield* Effect.all(
          [
            [A, "a_"],
            [B, "b_"],
            [A, ""]
          ].map(([app, prefix]) =>
            withStore(file, app as AppSchema, (store) => store.storeId, { prefix: prefix as string })
          )
        )
        expect(new Set(ids).size).toBe(3)
      })
  )
})

// A kind with every supported field type, for values that must read back as written.
const Label = shared("label", { name: Schema.String })
const Everything = owned("everything", {
  s: Schema.String,
  s2: Schema.String.pipe(Schema.minLength(2)),
  lit: Schema.Literal("a", "b"),
  i: Schema.Int,
  i10: Schema.Int.pipe(Schema.between(0, 10)),
  n: Schema.Number,
  b: Schema.Boolean,
  r: ref("label"),
  ns: Schema.NullOr(Schema.String),
  ni: Schema.NullOr(Schema.Int),
  nn: Schema.NullOr(Schema.Number),
  nb: Schema.NullOr(Schema.Boolean),
  nr: Schema.NullOr(ref("label"))
})
const App = schema(Everything, Label)
const catalog = unsafeCompile(App)

/** A page as a peer receives it: JSON on the wire, checked against the kind, applied to its own file. */
const asPeerReceivesIt = (rows: ReadonlyArray<unknown>) =>
  (JSON.parse(JSON.stringify(rows)) as Array<unknown>).map((row) =>
    Either.getOrThrow(decodeRow(catalog.kind("everything"), row))
  )

describe("values read back as written", () => {
  it.scopedLive(
    "booleans come back as true/false, not 1/0: get, listBy, readAfter, readPage, and on a peer",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const base = { s: "x", s2: "xy", lit: "a", i: 1, i10: 1, n: 1.5, r: uuidN(9) }
        const nulls = { ns: null, ni: null, nn: null, nr: null }
        const written = {
          [uuidN(1)]: { ...base, ...nulls, b: true, nb: false },
          [uuidN(2)]: { ...base, ...nulls, b: false, nb: true },
          [uuidN(3)]: { ...base, ...nulls, b: true, nb: null }
        }
        const page = yield* withStore(join(dir, "a.db"), App, (store) =>
          Effect.gen(function* () {
            for (const [uuid, fields] of Object.entries(written))
              yield* write(store, "everything", uuid as Uuid, fields)
            for (const [uuid, fields] of Object.entries(written)) {
              const got = yield* fieldsOf(store, "everything", uuid as Uuid)
              expect(Option.getOrThrow(got)).toStrictEqual(fields)
            }
            const listed = yield* store.listBy("everything", "r", uuidN(9))
            const after = yield* store.readAfter("everything", 0, 100)
            const page = yield* store.readPage("everything", 0, 100)
            for (const rows of [listed, after, page.rows]) {
              expect(Object.fromEntries(rows.map((r) => [r.uuid, r.fields]))).toStrictEqual(written)
            }
            return page.rows
          })
        )
        const received = asPeerReceivesIt(page)
        yield* withStore(
          join(dir, "b.db"),
          App,
          (store) =>
            Effect.gen(function* () {
              expect(yield* store.apply("everything", received)).toBe(3)
              const rows = yield* store.readAfter("everything", 0, 100)
              expect(Object.fromEntries(rows.map((r) => [r.uuid, r.fields]))).toStrictEqual(written)
            }),
          { device: deviceB }
        )
      })
  )

  it.scopedLive.prop(
    "any row the kind accepts reads back equal, locally and on a peer",
    [
      fc.array(
        // Schema.Number's NaN and ±Infinity are refused on write (the test above), not part of this property.
        Arbitrary.make(Everything.schema).filter(
          (f) => Number.isFinite(f.n) && (f.nn === null || Number.isFinite(f.nn))
        ),
        { minLength: 1, maxLength: 20 }
      )
    ],
    ([rows]) =>
      Effect.gen(function* () {
        const dir = yield* tempDir()
        // -0 reads back as 0: JSON, which carries rows to SQLite and to peers, has no -0.
        const written = Object.fromEntries(
          rows.map((fields, i) => [
            uuidN(i + 1),
            { ...fields, n: fields.n + 0, nn: fields.nn === null ? null : fields.nn + 0 }
          ])
        )
        const page = yield* withStore(join(dir, "a.db"), App, (store) =>
          Effect.gen(function* () {
            yield* store.writeLocal(
              "everything",
              Object.entries(written).map(([uuid, fields]) => ({ uuid: uuid as Uuid, fields }))
            )
            for (const [uuid, fields] of Object.entries(written)) {
              expect(Option.getOrThrow(yield* fieldsOf(store, "everything", uuid as Uuid))).toStrictEqual(
                fields
              )
            }
            return (yield* store.readPage("everything", 0, 100)).rows
          })
        )
        const received = yield* withStore(
          join(dir, "b.db"),
          App,
          (store) =>
            Effect.zipRight(
              store.apply("everything", asPeerReceivesIt(page)),
              store.readAfter("everything", 0, 100)
            ),
          { device: deviceB }
        )
        expect(Object.fromEntries(received.map((r) => [r.uuid, r.fields]))).toStrictEqual(written)
      }),
    { fastCheck: { numRuns: 25, endOnFailure: true } }
  )

  /** Write rows with these strings, read them back locally and on a peer: both equal what was written. */
  const stringsRoundTrip = (strings: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const base = {
        s2: "xy",
        lit: "a",
        i: 1,
        i10: 1,
        n: 1,
        b: true,
        r: uuidN(9),
        ni: null,
        nn: null,
        nb: null,
        nr: null
      }
      const written = Object.fromEntries(strings.map((s, i) => [uuidN(i + 1), { ...base, s, ns: s }]))
      const page = yield* withStore(join(dir, "a.db"), App, (store) =>
        Effect.gen(function* () {
          yield* store.writeLocal(
            "everything",
            Object.entries(written).map(([uuid, fields]) => ({ uuid: uuid as Uuid, fields }))
          )
          const rows = yield* store.readAfter("everything", 0, 100)
          expect(Object.fromEntries(rows.map((r) => [r.uuid, r.fields]))).toStrictEqual(written)
          return (yield* store.readPage("everything", 0, 100)).rows
        })
      )
      const received = yield* withStore(
        join(dir, "b.db"),
        App,
        (store) =>
          Effect.zipRight(
            store.apply("everything", asPeerReceivesIt(page)),
            store.readAfter("everything", 0, 100)
          ),
        { device: deviceB }
      )
      expect(Object.fromEntries(received.map((r) => [r.uuid, r.fields]))).toStrictEqual(written)
    })

  it.scopedLive("strings of any code point but NUL read back as written, astral characters included", () =>
    stringsRoundTrip(["é", "日本語", "😀", "a\u0001b", "\u007f", "\\\"'", "\n\t\r", " ", ""])
  )

  // PostgreSQL's text cannot hold U+0000: a row with one would sync everywhere but to a hub.
  it.scopedLive("a string with a NUL is refused on SQLite too, so every storage holds the same rows", () =>
    Effect.exit(stringsRoundTrip(["a\u0000b"])).pipe(
      Effect.map((exit) =>
        expect(Exit.isFailure(exit) && String(Cause.squash(exit.cause))).toMatch(/NUL \(U\+0000\)/)
      )
    )
  )

  // Schema.String accepts a lone surrogate, and SQLite's JSON would turn it into three U+FFFD.
  it.scopedLive("a string with a lone surrogate is refused, not stored mangled", () =>
    Effect.exit(stringsRoundTrip(["\ud800"])).pipe(
      Effect.map((exit) =>
        expect(Exit.isFailure(exit) && String(Cause.squash(exit.cause))).toMatch(/lone surrogate/)
      )
    )
  )

  it.scopedLive("NaN and ±Infinity are refused, not stored as NULL", () =>
    Effect.gen(function* () {
      const file = join(yield* tempDir(), "database.db")
      const fields = {
        s: "x",
        s2: "xy",
        lit: "a",
        i: 1,
        i10: 1,
        b: true,
        r: uuidN(9),
        ns: null,
        ni: null,
        nb: null,
        nr: null
      }
      yield* withStore(file, App, (store) =>
        Effect.gen(function* () {
          for (const n of [NaN, Infinity, -Infinity]) {
            const exit = yield* Effect.exit(write(store, "everything", uuidN(1), { ...fields, n, nn: null }))
            expect(Exit.isFailure(exit)).toBe(true)
          }
          expect(yield* store.get("everything", uuidN(1))).toEqual(Option.none())
        })
      )
    })
  )
})
