// An application of its own, built only on the package's public entry points ("tidemark" and
// "tidemark/testing", resolved through package.json's exports exactly as an application resolves them).
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Either, Fiber, Layer, Option, Schedule, Schema, Stream } from "effect"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { Errors, Resource, Storage, Tidemark, Transport } from "tidemark"
import * as Testing from "tidemark/testing"

const Note = Resource.owned("note", {
  title: Schema.String,
  done: Schema.Boolean,
  label: Schema.NullOr(Resource.ref("label"))
})
const Label = Resource.shared("label", { name: Schema.String })
const App = Tidemark.schema(Note, Label)

/** Two devices that write, and each sees the other's change on its change Stream. */
const exchangeChanges = (a: Tidemark.Database["Type"], b: Tidemark.Database["Type"]) =>
  Effect.gen(function* () {
    // Subscribed when `changes` returns: no sleep is needed before the writes.
    const notesOnB = yield* Stream.take(yield* b.changes(Note), 1).pipe(Stream.runCollect, Effect.fork)
    const labelsOnA = yield* Stream.take(yield* a.changes(Label), 1).pipe(Stream.runCollect, Effect.fork)
    const label = yield* b.write(Label, { name: "groceries" })
    const note = yield* a.write(Note, { title: "milk", done: false, label: label.uuid })
    const seenOnB = Chunk.toReadonlyArray(yield* Fiber.join(notesOnB))
    const seenOnA = Chunk.toReadonlyArray(yield* Fiber.join(labelsOnA))
    expect(seenOnB).toEqual([
      expect.objectContaining({ kind: "note", uuid: note.uuid, origin: "remote", fields: note.fields })
    ])
    expect(seenOnA).toEqual([
      expect.objectContaining({
        kind: "label",
        uuid: label.uuid,
        origin: "remote",
        fields: { name: "groceries" }
      })
    ])
    // Listing by a reference finds the note on both devices; get reads it back typed.
    expect((yield* b.listBy(Note, "label", label.uuid)).map((n) => n.uuid)).toEqual([note.uuid])
    const onB = yield* b.get(Note, note.uuid)
    expect(Option.map(onB, (n) => n.fields.done)).toEqual(Option.some(false))
    // A delete travels too, and the row is gone from get on both sides.
    yield* a.remove(Note, note.uuid)
    yield* Effect.repeat(b.get(Note, note.uuid), {
      until: Option.isNone,
      schedule: Schedule.spaced("10 millis")
    })
    expect(yield* a.get(Note, note.uuid)).toEqual(Option.none())
  })

describe("an application embedding tidemark", () => {
  it.scopedLive("two devices converge over the memory transport and see each other's changes", () =>
    Effect.gen(function* () {
      const { devices } = yield* Testing.devices({ schema: App, count: 2 })
      yield* exchangeChanges(devices[0]!.database, devices[1]!.database)
      const dump = yield* Testing.converged(devices)
      expect(dump.filter((line) => line.includes('"resource":"note"'))).toHaveLength(1)
    })
  )

  it.scopedLive("devices that cannot meet do not converge, and the failure names the rows that differ", () =>
    Effect.gen(function* () {
      const { devices, network } = yield* Testing.devices({ schema: App, count: 2 })
      yield* network.partition([[devices[0]!.id], [devices[1]!.id]])
      yield* devices[1]!.database.write(Note, { title: "only on the second", done: false, label: null })
      const failure = yield* Effect.flip(Testing.converged(devices, { timeout: "300 millis" }))
      expect(failure._tag).toBe("NotConverged")
      expect(failure.message).toContain(`only on ${devices[1]!.address} (1)`)
      expect(failure.message).toContain("only on the second")
      // Identical dumps that the check refuses are told apart from differing ones.
      yield* network.heal
      const refused = yield* Effect.flip(
        Testing.converged(devices, { check: () => false, timeout: "2 seconds" })
      )
      expect(refused.message).toContain("which the check refused")
    })
  )

  it.scopedLive("two devices converge over TCP, each in its own data directory", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "tidemark-embed-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const library = Tidemark.newLibrary()
      const device = (name: string, peers: ReadonlyArray<string>) =>
        Effect.gen(function* () {
          const path = join(dir, name)
          yield* Effect.sync(() => mkdirSync(path))
          return yield* Layer.build(
            Tidemark.layer({
              schema: App,
              library,
              device: Tidemark.newDevice(),
              storage: Storage.directory(path),
              listen: "127.0.0.1:0",
              peers,
              options: Testing.fastOptions
            })
          )
        })
      const a = yield* device("a", [])
      const b = yield* device("b", [Context.get(a, Tidemark.Engine).address])
      yield* exchangeChanges(Context.get(a, Tidemark.Database), Context.get(b, Tidemark.Database))
    })
  )

  it.scopedLive(
    "the synced rows live in the application's own SqliteClient, beside its tables, under a prefix",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "tidemark-client-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        const appDb = yield* Layer.build(SqliteClient.layer({ filename: join(dir, "app.db") }))
        const sql = Context.get(appDb, SqlClient.SqlClient)
        // The application's own table, named like one of its kinds.
        yield* sql`CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)`
        yield* sql`INSERT INTO note (body) VALUES ('mine')`
        const engine = yield* Layer.build(
          Tidemark.layer({
            schema: App,
            library: Tidemark.newLibrary(),
            device: Tidemark.newDevice(),
            storage: Storage.client({ syncDirectory: join(dir, "sync") }),
            listen: "memory:client",
            transport: Transport.memory(yield* Transport.memoryNetwork)
          }).pipe(Layer.provide(Layer.succeedContext(appDb)))
        )
        const db = Context.get(engine, Tidemark.Database)
        const note = yield* db.write(Note, { title: "synced", done: true, label: null })
        expect(Option.map(yield* db.get(Note, note.uuid), (n) => n.fields)).toEqual(
          Option.some({ title: "synced", done: true, label: null })
        )
        const tables = (yield* sql<{
          name: string
        }>`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).map((t) => t.name)
        expect(tables).toEqual(
          expect.arrayContaining([
            "note",
            "tidemark_note",
            "tidemark_label",
            "tidemark_seq_counter",
            "tidemark_migrations"
          ])
        )
        expect(yield* sql`SELECT body FROM note`).toEqual([{ body: "mine" }])
        expect(yield* sql`SELECT title, done FROM tidemark_note`).toEqual([{ title: "synced", done: 1 }])
        // Its status says where the data is kept.
        expect((yield* Context.get(engine, Tidemark.Replica).status).storage).toEqual({
          kind: "client",
          prefix: "tidemark_",
          syncDirectory: join(dir, "sync")
        })
      })
  )

  it.scopedLive("a new device's backfill is observable as a Stream of progress per peer and kind", () =>
    Effect.gen(function* () {
      const network = yield* Transport.memoryNetwork
      const library = Tidemark.newLibrary()
      const device = (name: string, peers: ReadonlyArray<string>) =>
        Layer.build(
          Tidemark.layer({
            schema: App,
            library,
            device: Tidemark.newDevice(),
            storage: Storage.memory,
            listen: `memory:${name}`,
            peers,
            transport: Transport.memory(network),
            options: Testing.fastOptions
          })
        )
      const a = yield* device("a", [])
      const dbA = Context.get(a, Tidemark.Database)
      yield* Effect.forEach(
        Array.from({ length: 300 }, (_, i) => i),
        (i) => dbA.write(Note, { title: `note ${i}`, done: i % 2 === 0, label: null })
      )
      const b = yield* device("b", ["memory:a"])
      const seen = yield* Context.get(b, Tidemark.Engine).progress.pipe(
        Stream.map((all) => all.find((p) => p.resource === "note")),
        Stream.filter((p) => p !== undefined),
        Stream.takeUntil((p) => p.caughtUp),
        Stream.runCollect,
        Effect.timeout("20 seconds")
      )
      const last = Chunk.unsafeLast(seen)
      expect(last).toMatchObject({
        done: 300,
        total: 300,
        caughtUp: true,
        peer: Context.get(a, Tidemark.Engine).device
      })
      // Pages of 50: progress moved in steps, never backwards.
      const done = Chunk.toReadonlyArray(seen).map((p) => p.done)
      expect(done).toEqual([...done].sort((x, y) => x - y))
    })
  )

  it.scopedLive(
    "bad settings fail the Layer with a ConfigError naming the setting, before anything opens",
    () =>
      Effect.gen(function* () {
        const network = yield* Transport.memoryNetwork
        const base = {
          schema: App,
          library: Tidemark.newLibrary(),
          device: Tidemark.newDevice(),
          storage: Storage.memory,
          listen: "memory:config",
          transport: Transport.memory(network)
        }
        const settingOf = <A, E>(layer: Layer.Layer<A, E>) =>
          Effect.map(Effect.flip(Layer.build(layer)), (e) =>
            e instanceof Errors.ConfigError ? e.setting : e
          )
        expect(yield* settingOf(Tidemark.layer({ ...base, device: "DEVICE-1" }))).toBe("device")
        expect(
          yield* settingOf(Tidemark.layer({ ...base, library: { id: base.library.id, secret: "" } }))
        ).toBe("library.secret")
        const prefixed = Tidemark.layer({
          ...base,
          storage: Storage.client({ syncDirectory: "/nonexistent", prefix: 'x"; DROP' })
        })
        expect(
          yield* settingOf(prefixed.pipe(Layer.provide(SqliteClient.layer({ filename: ":memory:" }))))
        ).toBe("storage.prefix")
      })
  )

  it.scopedLive("a schema the engine cannot store fails the Layer with a typed error", () =>
    Effect.gen(function* () {
      const Bad = Resource.owned("bad", { when: Schema.Date })
      const result = yield* Effect.either(
        Layer.build(
          Tidemark.layer({
            schema: Tidemark.schema(Bad),
            library: Tidemark.newLibrary(),
            device: Tidemark.newDevice(),
            storage: Storage.memory,
            listen: "memory:bad",
            transport: Transport.memory(yield* Transport.memoryNetwork)
          })
        )
      )
      expect(Either.isLeft(result) && result.left).toBeInstanceOf(Errors.SchemaDefinitionError)
    })
  )
})
