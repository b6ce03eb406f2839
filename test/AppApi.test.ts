// What an application like the file library needs of the public API, used through the package's name only:
// batch writes in one transaction, listing and counting a kind, idempotent deletes, a device opened without
// serving (as the CLI opens it), its status and inspection, verify and repair against a peer, and the
// Prometheus page of a running engine.
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Either, Layer, Option, Schedule, Schema } from "effect"
import { Errors, Resource, Storage, Tidemark, Transport } from "tidemark"
import { tempDir } from "./support/tempDir.js"

const Note = Resource.owned("note", { title: Schema.String.pipe(Schema.minLength(1)), done: Schema.Boolean })
const Label = Resource.shared("label", { name: Schema.String })
const App = Tidemark.schema(Note, Label)

const dumpOf = Effect.flatMap(Tidemark.Database, (db) => db.dump)

describe("the public API for applications", () => {
  it.scopedLive("writeMany stores a batch in one transaction: one bad row and nothing is stored", () =>
    Effect.gen(function* () {
      const db = yield* Tidemark.Database
      const bad = yield* Effect.either(
        db.writeMany(Note, [
          { fields: { title: "first", done: false } },
          { fields: { title: "", done: true } }
        ])
      )
      expect(Either.isLeft(bad) && bad.left._tag).toBe("InvalidRowError")
      expect(yield* db.dump).toEqual([])

      const [a, b] = yield* db.writeMany(Note, [
        { fields: { title: "a", done: false } },
        { fields: { title: "b", done: true } }
      ])
      expect((yield* db.list(Note)).map((n) => n.uuid)).toEqual([a, b].sort())
      // A write and a delete in one batch.
      yield* db.writeMany(Note, [
        { uuid: a!, fields: { title: "a2", done: true } },
        { uuid: b!, deleted: true }
      ])
      expect((yield* db.list(Note)).map((n) => [n.uuid, n.fields.title])).toEqual([[a, "a2"]])
      expect(yield* db.count(Note)).toBe(2)
    }).pipe(
      Effect.provide(
        Tidemark.layerOffline({
          schema: App,
          library: Tidemark.newLibrary(),
          device: Tidemark.newDevice(),
          storage: Storage.memory
        })
      )
    )
  )

  it.scopedLive("remove is idempotent; a row never held is RowNotFoundError and changes nothing", () =>
    Effect.gen(function* () {
      const db = yield* Tidemark.Database
      const label = yield* db.write(Label, { name: "x" })
      yield* db.remove(Label, label.uuid)
      const once = yield* db.dump
      expect(once).toHaveLength(1)
      expect(JSON.parse(once[0]!)).toMatchObject({ deleted: true })
      // Removing again writes no new tombstone: the version stays.
      yield* db.remove(Label, label.uuid)
      expect(yield* db.dump).toEqual(once)
      const missing = yield* Effect.either(db.remove(Label, Tidemark.newDevice()))
      expect(Either.isLeft(missing) && missing.left).toBeInstanceOf(Errors.RowNotFoundError)
      const batch = yield* Effect.either(db.writeMany(Label, [{ uuid: Tidemark.newDevice(), deleted: true }]))
      expect(Either.isLeft(batch) && batch.left._tag).toBe("RowNotFoundError")
      expect(yield* db.dump).toEqual(once)
      expect(yield* db.count(Label)).toBe(1)
      expect(yield* db.list(Label)).toEqual([])
    }).pipe(
      Effect.provide(
        Tidemark.layerOffline({
          schema: App,
          library: Tidemark.newLibrary(),
          device: Tidemark.newDevice(),
          storage: Storage.memory
        })
      )
    )
  )

  it.scopedLive(
    "a device opened offline writes into the directory of a running engine, whose peer receives it; status, inspect and verify agree",
    () =>
      Effect.gen(function* () {
        const root = yield* tempDir("tidemark-appapi-")
        const library = Tidemark.newLibrary()
        const [idA, idB] = [Tidemark.newDevice(), Tidemark.newDevice()]
        const dirA = `${root}/a`
        const dirB = `${root}/b`
        const a = yield* Layer.build(
          Tidemark.layer({
            schema: App,
            library,
            device: idA,
            storage: Storage.directory(dirA),
            listen: "127.0.0.1:0",
            options: { liveWaitMillis: 200 }
          })
        )
        const atA = Context.get(a, Tidemark.Engine)
        const b = yield* Layer.build(
          Tidemark.layer({
            schema: App,
            library,
            device: idB,
            storage: Storage.directory(dirB),
            listen: "127.0.0.1:0",
            peers: [atA.address],
            liveMetrics: true,
            options: { liveWaitMillis: 200 }
          })
        )
        const dbB = Context.get(b, Tidemark.Database)

        // Another "process" (the CLI) opens A's directory without serving and writes a note.
        const offlineA = Tidemark.layerOffline({
          schema: App,
          library,
          device: idA,
          storage: Storage.directory(dirA)
        })
        const note = yield* Effect.flatMap(Tidemark.Database, (db) =>
          db.write(Note, { title: "from the cli", done: false })
        ).pipe(Effect.provide(offlineA))
        yield* Effect.repeat(dbB.get(Note, note.uuid), {
          until: Option.isSome,
          schedule: Schedule.spaced("20 millis")
        }).pipe(Effect.timeout("10 seconds"))

        // B's status names A as a connected peer with a watermark for the note kind.
        const status = yield* Effect.flatMap(Tidemark.Replica, (r) => r.status).pipe(Effect.provide(b))
        expect(status.deviceId).toBe(idB)
        expect(status.peers).toEqual([expect.objectContaining({ deviceId: idA, connected: true })])
        expect(status.watermarks).toContainEqual(expect.objectContaining({ peer: idA, resource: "note" }))
        expect(status.counters.recordsReceived).toBeGreaterThan(0)

        // Offline, A's inspection counts the note; verify from A against B finds them the same.
        const seenFromA = yield* Effect.gen(function* () {
          const replica = yield* Tidemark.Replica
          return {
            inspection: yield* replica.inspect,
            verification: yield* replica.verify(Context.get(b, Tidemark.Engine).address)
          }
        }).pipe(Effect.provide(offlineA))
        expect(seenFromA.inspection.library).toContainEqual(
          expect.objectContaining({ resource: "note", rows: 1 })
        )
        expect(seenFromA.inspection.hlc.highWaterMillis).toBeGreaterThan(0)
        expect(seenFromA.verification.peer).toBe(idB)
        expect(seenFromA.verification.kinds.every((k) => k.same)).toBe(true)

        // B records live measurements: its Prometheus page counts the page it applied from A. A does not.
        const page = yield* Context.get(b, Tidemark.Engine).prometheus
        expect(page).toContain(`tidemark_info{device="${idB}"`)
        expect(Number(/^tidemark_page_apply_seconds_count (\d+)$/m.exec(page)?.[1])).toBeGreaterThan(0)
        expect(yield* atA.prometheus).toMatch(/^tidemark_page_apply_seconds_count 0$/m)
      })
  )

  it.scopedLive("verify finds what differs from a peer, repair pulls it, and then nothing differs", () =>
    Effect.gen(function* () {
      const network = yield* Transport.memoryNetwork
      const library = Tidemark.newLibrary()
      const transport = Transport.memory(network)
      // B serves but pulls from nobody, so A's rows reach it only by repair.
      const a = yield* Layer.build(
        Tidemark.layer({
          schema: App,
          library,
          device: Tidemark.newDevice(),
          storage: Storage.memory,
          listen: "memory:a",
          transport
        })
      )
      const b = Tidemark.layerOffline({
        schema: App,
        library,
        device: Tidemark.newDevice(),
        storage: Storage.memory,
        transport
      })
      const dbA = Context.get(a, Tidemark.Database)
      yield* dbA.writeMany(Note, [
        { fields: { title: "one", done: false } },
        { fields: { title: "two", done: true } }
      ])
      yield* dbA.write(Label, { name: "shared" })
      yield* Effect.gen(function* () {
        const replica = yield* Tidemark.Replica
        expect((yield* replica.status).storage).toEqual({ kind: "memory" })
        const before = yield* replica.verify("memory:a")
        expect(before.kinds.filter((k) => !k.same).map((k) => k.kind)).toEqual(["note", "label"])
        expect(yield* dumpOf).toEqual([])
        const repaired = yield* replica.verify("memory:a", { repair: true })
        expect(repaired.kinds.map((k) => [k.kind, k.pulled])).toEqual([
          ["note", 2],
          ["label", 1]
        ])
        const after = yield* replica.verify("memory:a")
        expect(after.kinds.every((k) => k.same)).toBe(true)
        expect(yield* dumpOf).toEqual(yield* dbA.dump)
        // In memory the clock's state is the clock itself: it has seen the peer's versions.
        const inspection = yield* replica.inspect
        expect(inspection.hlc.highWaterMillis).toBeGreaterThan(0)
        expect(inspection.library).toContainEqual(expect.objectContaining({ resource: "note", rows: 2 }))
      }).pipe(Effect.provide(b))
    })
  )
})
