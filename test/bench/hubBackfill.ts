// Benchmark: backfill of a new SQLite device from a hub on PostgreSQL, as a ratio to the same backfill from a
// SQLite device, measured in one run on one machine. Both sources hold the same N rows of one owned kind and
// serve over TCP with TLS; the receiver is a new device with a SQLite directory, in the same process as the
// source (as in the hub tests). Timed from the receiver's start until its progress reports every row applied
// and caught up. Run: `npm run build && npx vite-node test/bench/hubBackfill.ts [rows]` (default 100,000).
import { Context, Effect, Layer, Schema, Stream } from "effect"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Resource, Storage, Tidemark } from "tidemark"
import { compile } from "../../src/domain/Catalog.js"
import { DeviceId, LibraryId, newUuid } from "../../src/domain/Ids.js"
import type { ResourceType } from "../../src/domain/Resource.js"
import * as Device from "../../src/layers/Device.js"
import { LibraryStore } from "../../src/services/LibraryStore.js"
import { startPostgres } from "../support/postgresServer.js"

const Note = Resource.owned("note", { title: Schema.String, size: Schema.Int })
const App = Tidemark.schema(Note)
const ROWS = Number(process.argv[2] ?? 100_000)
const WRITE_BATCH = 10_000

/** Write ROWS notes as `device` through the stores `layer` opens, in batches. */
const seed = <E>(layer: Layer.Layer<LibraryStore, E>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const store = Context.get(yield* Layer.build(layer), LibraryStore)
      for (let start = 0; start < ROWS; start += WRITE_BATCH) {
        const n = Math.min(WRITE_BATCH, ROWS - start)
        yield* store.writeLocal(
          "note" as ResourceType,
          Array.from({ length: n }, (_, i) => ({
            uuid: newUuid(),
            fields: { title: `note ${start + i}`, size: i }
          }))
        )
      }
    })
  )

/** Seconds until a new SQLite device pulled every row from the device `source` serves. */
const backfillFrom = (
  dir: string,
  library: Tidemark.LibraryKey,
  source: string,
  storage: Storage.DirectoryStorage | Storage.PostgresStorage
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const served = yield* Layer.build(
        Tidemark.layer({
          schema: App,
          library,
          device: source,
          storage,
          listen: "127.0.0.1:0"
        })
      )
      const address = Context.get(served, Tidemark.Engine).address
      const started = performance.now()
      const receiver = yield* Layer.build(
        Tidemark.layer({
          schema: App,
          library,
          device: Tidemark.newDevice(),
          storage: Storage.directory(join(dir, `receiver-${Date.now()}`)),
          listen: "127.0.0.1:0",
          peers: [address]
        })
      )
      yield* Context.get(receiver, Tidemark.Engine).progress.pipe(
        Stream.filter((all) => all.some((b) => b.resource === "note" && b.done === ROWS && b.caughtUp)),
        Stream.runHead
      )
      return (performance.now() - started) / 1000
    })
  )

const program = Effect.gen(function* () {
  const pg = yield* startPostgres
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "tidemark-hub-bench-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
  const library = Tidemark.newLibrary()
  const kinds = yield* compile(App)
  const identity = (device: string) => ({
    deviceId: DeviceId.make(device),
    libraryId: LibraryId.make(library.id)
  })
  const sqliteSource = Tidemark.newDevice()
  const hub = Tidemark.newDevice()
  const location = { url: pg.url, schema: "bench" }
  yield* Effect.sync(() => mkdirSync(join(dir, "source")))
  yield* seed(Device.layerSqliteWithDb(join(dir, "source"), identity(sqliteSource), { kinds }))
  yield* seed(Device.layerPostgres(location, identity(hub), { kinds }))
  const fromSqlite = yield* backfillFrom(dir, library, sqliteSource, Storage.directory(join(dir, "source")))
  const fromHub = yield* backfillFrom(dir, library, hub, Storage.postgres(location))
  const rate = (seconds: number) => Math.round(ROWS / seconds).toLocaleString("en")
  yield* Effect.sync(() => {
    console.log(`rows: ${ROWS.toLocaleString("en")}`)
    console.log(`baseline, from a SQLite device: ${rate(fromSqlite)} rows/s (${fromSqlite.toFixed(2)} s)`)
    console.log(`from a hub on PostgreSQL:       ${rate(fromHub)} rows/s (${fromHub.toFixed(2)} s)`)
    console.log(`ratio (hub / SQLite):           ${(fromSqlite / fromHub).toFixed(2)}`)
  })
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exit(1)
})
