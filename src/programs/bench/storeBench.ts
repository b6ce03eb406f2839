// Local writes through LibraryStore versus a raw better-sqlite3 insert of the same rows into the same table
// definition, with the same pragmas and the same transaction size, measured in the same run. Only the writes
// are timed: each batch of rows is made just before it is written, by both paths alike.
import Database from "better-sqlite3"
import { Effect } from "effect"
import { createHash, randomUUID } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DeviceId, LibraryId, Uuid } from "../../domain/Ids.js"
import * as Hlc from "../../domain/Hlc.js"
import * as Device from "../../layers/Device.js"
import { FileLibraryCatalog } from "../../domain/FileLibrary.js"
import { tableDdl, uuidIndexDdl } from "../../layers/LibraryDbSchema.js"
import { LIBRARY_CACHE_MIB, tuningPragmas } from "../../layers/Sqlite.js"
import { LibraryStore, type LocalWrite } from "../../services/LibraryStore.js"
import { entryFields } from "./processes.js"
import type { Report } from "./report.js"

const BATCH = 10_000

/**
 * The n-th write of batch-sized runs: a random-looking v4 uuid derived from `seed` and n, so both paths write
 * the same rows while only one batch is ever in memory (the engine's run no longer collects garbage over a
 * heap holding all of them, which the raw loop, allocating almost nothing, never paid).
 */
const writeOf = (seed: string, location: Uuid, n: number): LocalWrite => {
  const h = createHash("md5").update(`${seed}:${n}`).digest("hex")
  return {
    uuid: Uuid.make(
      `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${"89ab"[parseInt(h[16]!, 16) % 4]}${h.slice(17, 20)}-${h.slice(20, 32)}`
    ),
    fields: entryFields(location, n)
  }
}

/** The rows to write, one batch at a time. */
interface Writes {
  readonly rows: number
  readonly batch: (first: number) => ReadonlyArray<LocalWrite>
}

const makeWrites = (rows: number): Writes => {
  const seed = randomUUID()
  const location = Uuid.make(randomUUID())
  return {
    rows,
    batch: (first) =>
      Array.from({ length: Math.min(BATCH, rows - first) }, (_, i) => writeOf(seed, location, first + i))
  }
}

const rawInsert = (dir: string, writes: Writes, device: DeviceId): number => {
  const db = new Database(join(dir, "raw.db"))
  db.pragma("journal_mode = WAL")
  // Exactly the pragmas database.db is opened with (this used to be a 64 MiB page cache, the engine's is 32).
  for (const pragma of tuningPragmas(LIBRARY_CACHE_MIB)) db.exec(pragma)
  db.exec(tableDdl(FileLibraryCatalog.kind("entry")))
  db.exec(uuidIndexDdl("entry"))
  const insert = db.prepare(
    `INSERT INTO entry (seq, uuid, version, deleted, owner, location, parent, name, kind, size, modified_at, content_hash)
     VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)`
  )
  let seconds = 0
  let seq = 1
  let last = Hlc.zero(device)
  for (let b = 0; b < writes.rows; b += BATCH) {
    const batch = writes.batch(b)
    const start = performance.now()
    db.transaction(() => {
      for (const w of batch) {
        const f = w.fields
        last = Hlc.tick(last, Date.now())
        insert.run(
          seq++,
          w.uuid,
          Hlc.format(last),
          device,
          f.location,
          f.parent,
          f.name,
          f.kind,
          f.size,
          f.modified_at,
          f.content_hash
        )
      }
    })()
    seconds += (performance.now() - start) / 1000
  }
  db.close()
  return seconds
}

const engineWrite = (dir: string, writes: Writes, device: DeviceId) =>
  Effect.gen(function* () {
    const store = yield* LibraryStore
    let seconds = 0
    for (let b = 0; b < writes.rows; b += BATCH) {
      const batch = writes.batch(b)
      const start = performance.now()
      yield* store.writeLocal("entry", batch)
      seconds += (performance.now() - start) / 1000
    }
    return seconds
  }).pipe(
    Effect.provide(Device.layerSqlite(dir, { deviceId: device, libraryId: LibraryId.make(randomUUID()) }))
  )

export const run = (rows: number, report: Report) =>
  Effect.gen(function* () {
    const device = DeviceId.make(randomUUID())
    const writes = makeWrites(rows)
    const rawDir = mkdtempSync(join(tmpdir(), "tidemark-bench-raw-"))
    const engineDir = mkdtempSync(join(tmpdir(), "tidemark-bench-engine-"))
    try {
      const rawSeconds = rawInsert(rawDir, writes, device)
      const engineSeconds = yield* engineWrite(engineDir, writes, device)
      const rawRate = rows / rawSeconds
      const engineRate = rows / engineSeconds
      const lines = [
        `store: ${rows} entries, transactions of ${BATCH}`,
        `  raw better-sqlite3 INSERT (same table, pragmas, transactions): ${Math.round(rawRate)} rows/s (${rawSeconds.toFixed(2)} s)`,
        `  LibraryStore.writeLocal (validate, HLC, seq, LWW upsert):       ${Math.round(engineRate)} rows/s (${engineSeconds.toFixed(2)} s)`,
        `  ratio engine/raw: ${(engineRate / rawRate).toFixed(2)} (target >= 0.80)`
      ]
      for (const l of lines) report.line(l)
      report.result({
        rows,
        tidemarkRowsPerSec: Math.round(engineRate),
        rawRowsPerSec: Math.round(rawRate)
      })
      return { rawRate, engineRate }
    } finally {
      rmSync(rawDir, { recursive: true, force: true })
      rmSync(engineDir, { recursive: true, force: true })
    }
  })
