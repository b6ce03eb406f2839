// A hub: an always-on device whose stores live in PostgreSQL, run through the public API as an application
// would. Devices A and B keep SQLite directories; they meet only through the hub.
import { expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Schema, type Scope } from "effect"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Resource, Storage, Tidemark, Transport } from "tidemark"
import * as Testing from "tidemark/testing"
import { freePort } from "./support/daemons.js"
import { describePostgres, freshSchema, postgresBinDir, serverForFile } from "./support/postgres.js"

const Note = Resource.owned("note", { title: Schema.String })
const Label = Resource.shared("label", { name: Schema.String })
const App = Tidemark.schema(Note, Label)

const LABEL_X = "0a000000-0000-4000-8000-00000000000a"
const LABEL_Y = "0b000000-0000-4000-8000-00000000000b"

describePostgres("a hub on PostgreSQL", () => {
  const server = serverForFile()

  /** The devices of one test: a library, a memory network, a directory per SQLite device, a hub schema. */
  const setup = Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "tidemark-hub-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
    const network = yield* Transport.memoryNetwork
    const library = Tidemark.newLibrary()
    const hubId = Tidemark.newDevice()
    const schema = freshSchema()
    const start = (
      device: string,
      storage: Storage.DirectoryStorage | Storage.PostgresStorage,
      listen: string,
      peers: ReadonlyArray<string>
    ): Effect.Effect<Testing.TestDevice, Tidemark.StartError, Scope.Scope> =>
      Effect.map(
        Layer.build(
          Tidemark.layer({
            schema: App,
            library,
            device,
            storage,
            listen,
            peers,
            transport: Transport.memory(network),
            options: Testing.fastOptions
          })
        ),
        (context) => ({ id: device, address: listen, database: Context.get(context, Tidemark.Database) })
      )
    return {
      /** A device with its data in `name`'s directory, pulling from `peers`. */
      sqlite: (name: string, device: string, peers: ReadonlyArray<string>) =>
        start(device, Storage.directory(join(dir, name)), `memory:${name}`, peers),
      /** A process of the hub, listening at memory:`name`. */
      schema,
      hub: (name: string) =>
        start(hubId, Storage.postgres({ url: server.url(), schema }), `memory:${name}`, [])
    }
  })

  const titles = (dump: ReadonlyArray<string>) =>
    dump.filter((l) => l.includes('"resource":"note"') && !l.includes('"deleted":true')).length
  const labelName = (dump: ReadonlyArray<string>, uuid: string) =>
    (JSON.parse(dump.find((l) => l.includes(uuid))!) as { name: string }).name

  it.scopedLive(
    "two devices that are never online together converge through the hub, shared-kind conflicts included",
    () =>
      Effect.gen(function* () {
        const { hub, sqlite } = yield* setup
        const a = Tidemark.newDevice()
        const b = Tidemark.newDevice()
        // B, offline and alone, writes label X.
        yield* Effect.scoped(
          Effect.flatMap(sqlite("b", b, []), (d) =>
            d.database.write(Label, { name: "X by B, earlier" }, LABEL_X)
          )
        )
        const h = yield* hub("hub")
        // A comes, writes (label X again, later, and Y) while syncing with the hub, and leaves.
        yield* Effect.scoped(
          Effect.gen(function* () {
            const dA = yield* sqlite("a", a, [h.address])
            for (let i = 0; i < 120; i++) yield* dA.database.write(Note, { title: `A ${i}` })
            yield* dA.database.write(Label, { name: "X by A, later" }, LABEL_X)
            yield* dA.database.write(Label, { name: "Y by A" }, LABEL_Y)
            yield* Testing.converged([dA, h], { check: (d) => titles(d) === 120 })
          })
        )
        // B comes back, writes (label Y, later than A did) while syncing, and leaves.
        yield* Effect.scoped(
          Effect.gen(function* () {
            const dB = yield* sqlite("b", b, [h.address])
            for (let i = 0; i < 80; i++) yield* dB.database.write(Note, { title: `B ${i}` })
            yield* dB.database.write(Label, { name: "Y by B, latest" }, LABEL_Y)
            yield* Testing.converged([dB, h], { check: (d) => titles(d) === 200 })
          })
        )
        // A again: it gets B's rows from the hub, and all three hold the same rows.
        const dA = yield* sqlite("a", a, [h.address])
        const dump = yield* Testing.converged([dA, h], { check: (d) => titles(d) === 200 })
        // Last writer wins on every device: X by A (written after B's offline write), Y by B.
        expect(labelName(dump, LABEL_X)).toBe("X by A, later")
        expect(labelName(dump, LABEL_Y)).toBe("Y by B, latest")
        yield* Effect.scoped(
          Effect.flatMap(sqlite("b", b, [h.address]), (dB) =>
            Testing.converged([dA, dB, h], { check: (d) => titles(d) === 200 })
          )
        )
      })
  )

  it.scopedLive(
    "two processes of one hub: A syncs with H1 and B with H2, both writing, and they converge",
    () =>
      Effect.gen(function* () {
        const { hub, sqlite } = yield* setup
        const h1 = yield* hub("h1")
        const h2 = yield* hub("h2")
        const dA = yield* sqlite("a", Tidemark.newDevice(), [h1.address])
        const dB = yield* sqlite("b", Tidemark.newDevice(), [h2.address])
        // Both write at once, in small batches, while the hub's two processes pull and serve.
        const writes = (d: Testing.TestDevice, who: string) =>
          Effect.forEach(
            Array.from({ length: 150 }, (_, i) => i),
            (i) =>
              Effect.zipRight(
                d.database.write(Note, { title: `${who} ${i}` }),
                i % 25 === 0 ? d.database.write(Label, { name: `${who} ${i}` }, LABEL_X) : Effect.void
              ),
            { discard: true }
          )
        yield* Effect.all([writes(dA, "A"), writes(dB, "B")], { concurrency: 2, discard: true })
        const dump = yield* Testing.converged([dA, dB, h1, h2], { check: (d) => titles(d) === 300 })
        // Every row each wrote is on the other: none skipped.
        for (const who of ["A", "B"]) {
          for (let i = 0; i < 150; i++)
            expect(dump.some((l) => l.includes(`"title":"${who} ${i}"`))).toBe(true)
        }
      })
  )

  it.scopedLive("a bad schema name or an unreachable server fails the Layer with a typed error", () =>
    Effect.gen(function* () {
      const start = (storage: Storage.PostgresStorage) =>
        Layer.build(
          Tidemark.layer({
            schema: App,
            library: Tidemark.newLibrary(),
            device: Tidemark.newDevice(),
            storage,
            listen: "memory:nowhere",
            transport: Transport.memory(network)
          })
        ).pipe(Effect.flip)
      const network = yield* Transport.memoryNetwork
      const badSchema = yield* start(Storage.postgres({ url: server.url(), schema: "Robert'); DROP" }))
      expect(badSchema).toMatchObject({ _tag: "ConfigError", setting: "storage.schema" })
      // A port nobody listens on, with a password that must not be shown.
      const port = yield* freePort
      const url = `postgres://postgres:hunter2@127.0.0.1:${port}/postgres`
      const unreachable = yield* start(Storage.postgres({ url, schema: "hub" }))
      expect(unreachable._tag).toBe("DatabaseOpenError")
      expect(unreachable.message).toContain(`127.0.0.1:${port}`)
      expect(unreachable.message).not.toContain("hunter2")
      // The driver takes a password as a query parameter too.
      const inQuery = yield* start(
        Storage.postgres({
          url: `postgres://postgres@127.0.0.1:${port}/postgres?password=hunter3`,
          schema: "hub"
        })
      )
      expect(inQuery._tag).toBe("DatabaseOpenError")
      expect(inQuery.message).toContain(`127.0.0.1:${port}`)
      expect(inQuery.message).not.toContain("hunter3")
    })
  )

  // The logical restore of docs/hub.md: pg_dump of the hub's schema, the schema dropped, pg_restore.
  it.scopedLive("a hub restored from a pg_dump backup is detected by its peers", () =>
    Effect.gen(function* () {
      const { hub, sqlite, schema } = yield* setup
      const backupDir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "tidemark-backup-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      const backup = join(backupDir, "hub.dump")
      const pg = (tool: string, ...args: ReadonlyArray<string>) =>
        Effect.sync(() =>
          execFileSync(join(postgresBinDir!, tool), [
            "-h",
            "127.0.0.1",
            "-p",
            String(server.port()),
            "-U",
            "postgres",
            ...args
          ])
        )
      const [a, b, c] = [Tidemark.newDevice(), Tidemark.newDevice(), Tidemark.newDevice()]
      const writeNotes = (d: Testing.TestDevice, who: string, n: number) =>
        Effect.forEach(
          Array.from({ length: n }, (_, i) => i),
          (i) => d.database.write(Note, { title: `${who} ${i}` }),
          {
            discard: true
          }
        )
      // A writes 30 rows; the hub is backed up; A writes 30 more and B pulls all 60 from the hub.
      yield* Effect.scoped(
        Effect.gen(function* () {
          const h = yield* hub("hub")
          const dA = yield* sqlite("a", a, [h.address])
          yield* writeNotes(dA, "A", 30)
          yield* Testing.converged([dA, h], { check: (d) => titles(d) === 30 })
          yield* pg("pg_dump", "-n", schema, "-Fc", "-f", backup, "postgres")
          yield* writeNotes(dA, "A later", 30)
          const dB = yield* sqlite("b", b, [h.address])
          yield* Testing.converged([dA, dB, h], { check: (d) => titles(d) === 60 })
        })
      )
      // The hub's schema is restored from the backup as it was: nobody gives it a new store id.
      yield* pg("psql", "-q", "-c", `DROP SCHEMA ${schema} CASCADE`, "postgres")
      yield* pg("pg_restore", "-d", "postgres", backup)
      const h = yield* hub("hub")
      // C's new rows reach the restored hub first: they take seqs that B's old cursor has already passed.
      yield* Effect.scoped(
        Effect.gen(function* () {
          const dC = yield* sqlite("c", c, [h.address])
          yield* writeNotes(dC, "C", 40)
          yield* Testing.converged([dC, h], { check: (d) => titles(d) === 70 })
        })
      )
      // B comes back: it must not trust its cursor into the old hub, and ends with every row.
      const dB = yield* sqlite("b", b, [h.address])
      yield* Testing.converged([dB, h], { check: (d) => titles(d) === 100, timeout: "30 seconds" })
    })
  )
})
