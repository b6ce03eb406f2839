// kill -9 of the hub process that serves a new device's backfill: the device moves to the hub's other process
// (it was given both addresses) and resumes from its checkpoint. The hub processes are real processes.
import { expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Context, Deferred, Effect, Layer, Schema, Stream } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Resource, Storage, Tidemark } from "tidemark"
import { compile } from "../src/domain/Catalog.js"
import { DeviceId, LibraryId, newUuid } from "../src/domain/Ids.js"
import type { ResourceType } from "../src/domain/Resource.js"
import * as Device from "../src/layers/Device.js"
import { LibraryStore } from "../src/services/LibraryStore.js"
import { freeAddress } from "./support/daemons.js"
import { describePostgres, freshSchema, serverForFile } from "./support/postgres.js"

const Note = Resource.owned("note", { title: Schema.String })
const Label = Resource.shared("label", { name: Schema.String })
const App = Tidemark.schema(Note, Label)
const ROWS = 20_000
const PAGE = 200

const HUB_PROCESS = join(import.meta.dirname, "support", "hubProcess.mjs")

/** Start a hub process; SIGKILLed when the scope closes if it still runs. Waits until it serves. */
const hubProcess = (config: object) =>
  Effect.gen(function* () {
    const serving = yield* Deferred.make<void, Error>()
    let output = ""
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(process.execPath, [HUB_PROCESS, JSON.stringify(config)], {
          stdio: ["ignore", "pipe", "pipe"]
        })
        const collect = (chunk: Buffer) => {
          output += chunk.toString()
          if (output.includes("serving ")) Deferred.unsafeDone(serving, Effect.void)
        }
        child.stdout!.on("data", collect)
        child.stderr!.on("data", collect)
        child.once("exit", () =>
          Deferred.unsafeDone(serving, Effect.fail(new Error(`hub process exited:\n${output}`)))
        )
        return child
      }),
      (child: ChildProcess) =>
        Effect.sync(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"))
    )
    yield* Deferred.await(serving).pipe(Effect.timeout("30 seconds"))
    return child
  })

/** One value from the device's sync.db, read beside the running engine. */
const readSyncDb = (dir: string, query: string, hub: string): unknown => {
  const db = new Database(join(dir, "a", "sync.db"), { readonly: true })
  try {
    return Object.values(db.prepare(query).get(hub) as Record<string, unknown>)[0]
  } finally {
    db.close()
  }
}

/** The address of the hub process the device is pulling through (its sync.db records the session's). */
const servingAddress = (dir: string, hub: string) =>
  readSyncDb(dir, "SELECT address FROM peers WHERE peer_device_uuid = ? AND connections > 0", hub) as string

describePostgres("failover between the processes of a hub", () => {
  const server = serverForFile()

  it.scopedLive(
    "kill -9 of the process serving a backfill: the device resumes from its checkpoint on the other",
    () =>
      Effect.gen(function* () {
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "tidemark-failover-"))),
          (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
        )
        const library = Tidemark.newLibrary()
        const hub = Tidemark.newDevice()
        const location = { url: server.url(), schema: freshSchema() }
        // The hub holds ROWS notes before anyone connects (written through its stores, in one batch).
        yield* Effect.scoped(
          Effect.gen(function* () {
            const kinds = yield* compile(App)
            const stores = yield* Layer.build(
              Device.layerPostgres(
                location,
                { deviceId: DeviceId.make(hub), libraryId: LibraryId.make(library.id) },
                { kinds }
              )
            )
            yield* Context.get(stores, LibraryStore).writeLocal(
              "note" as ResourceType,
              Array.from({ length: ROWS }, (_, i) => ({ uuid: newUuid(), fields: { title: `note ${i}` } }))
            )
          })
        )
        const [h1, h2] = [yield* freeAddress, yield* freeAddress]
        const config = (listen: string) => ({ ...location, library, device: hub, listen })
        const processes = new Map(
          yield* Effect.all(
            [h1, h2].map((address) =>
              Effect.map(hubProcess(config(address)), (child) => [address, child] as const)
            ),
            { concurrency: "unbounded" }
          )
        )
        // The new device knows both processes and pulls through one of them at a time.
        const a = yield* Layer.build(
          Tidemark.layer({
            schema: App,
            library,
            device: Tidemark.newDevice(),
            storage: Storage.directory(join(dir, "a")),
            listen: "127.0.0.1:0",
            peers: [h1, h2],
            options: { batchSize: PAGE, reconnectBaseMillis: 20, reconnectCapMillis: 200 }
          })
        )
        const notes = Context.get(a, Tidemark.Engine).progress.pipe(
          Stream.map((all) => all.find((b) => b.peer === hub && b.resource === "note")),
          Stream.filter((b) => b !== undefined)
        )
        const atKill = yield* notes.pipe(
          Stream.filter((b) => b.done >= ROWS / 4),
          Stream.runHead,
          Effect.map((b) => b.pipe((o) => (o._tag === "Some" ? o.value.done : 0)))
        )
        const serving = servingAddress(dir, hub)
        processes.get(serving)!.kill("SIGKILL")
        // The backfill goes on from where it was, on the other process, to the end.
        const seen = yield* notes.pipe(
          Stream.takeUntil((b) => b.done === ROWS && b.caughtUp),
          Stream.map((b) => b.done),
          Stream.runCollect,
          Effect.timeout("45 seconds")
        )
        expect(atKill).toBeGreaterThan(0)
        expect(atKill).toBeLessThan(ROWS)
        expect([...seen].every((done) => done >= atKill)).toBe(true)
        expect(servingAddress(dir, hub)).toBe(serving === h1 ? h2 : h1)
        // What the device applied from the hub: every row once, plus at most the page in flight at the kill.
        const received = yield* Effect.sync(() => {
          const db = new Database(join(dir, "a", "sync.db"), { readonly: true })
          try {
            return (
              db
                .prepare("SELECT records_received AS n FROM peer_counters WHERE peer_device_uuid = ?")
                .get(hub) as {
                n: number
              }
            ).n
          } finally {
            db.close()
          }
        })
        expect(received).toBeGreaterThanOrEqual(ROWS)
        expect(received).toBeLessThanOrEqual(ROWS + PAGE)
      })
  )
})
