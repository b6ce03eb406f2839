// Local writes through LibraryStore versus a raw better-sqlite3 insert of the same rows into the same table
// definition, with the same pragmas and the same transaction size, measured in the same run.
import Database from "better-sqlite3"
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DeviceId, LibraryId, Uuid } from "../../domain/Ids.js"
import * as Hlc from "../../domain/Hlc.js"
import * as Device from "../../layers/Device.js"
import { FileLibraryCatalog } from "../../domain/FileLibrary.js"
import { tableDdl, uuidIndexDdl } from "../../layers/LibraryDbSchema.js"
import { LibraryStore, type LocalWrite } from "../../services/LibraryStore.js"
import type { Report } from "./report.js"

const BATCH = 10_000

const makeWrites = (n: number): ReadonlyArray<LocalWrite> => {
  const location = Uuid.make(randomUUID())
  return Array.from({ length: n }, (_, i) => ({
    uuid: Uuid.make(randomUUID()),
    fields: {
      location,
      parent: null,
      name: `file-${i}.dat`,
      kind: "file",
      size: i * 17,
      modified_at: 1_700_000_000_000 + i,
      content_hash: null
    }
  }))
}

const rawInsert = (dir: string, writes: ReadonlyArray<LocalWrite>, device: DeviceId): number => {
  const db = new Database(join(dir, "raw.db"))
  db.pragma("journal_mode = WAL")
  for (const p of ["synchronous = NORMAL", "cache_size = -65536", "wal_autocheckpoint = 10000"]) db.pragma(p)
  db.exec(tableDdl(FileLibraryCatalog.kind("entry")))
  db.exec(uuidIndexDdl("entry"))
  const insert = db.prepare(
    `INSERT INTO entry (seq, uuid, version, deleted, owner, location, parent, name, kind, size, modified_at, content_hash)
     VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)`
  )
  const start = performance.now()
  let seq = 1
  let last = Hlc.zero(device)
  for (let b = 0; b < writes.length; b += BATCH) {
    db.transaction(() => {
      for (const w of writes.slice(b, b + BATCH)) {
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
  }
  const seconds = (performance.now() - start) / 1000
  db.close()
  return seconds
}

const engineWrite = (dir: string, writes: ReadonlyArray<LocalWrite>, device: DeviceId) =>
  Effect.gen(function* () {
    const store = yield* LibraryStore
    const start = performance.now()
    for (let b = 0; b < writes.length; b += BATCH) {
      yield* store.writeLocal("entry", writes.slice(b, b + BATCH))
    }
    return (performance.now() - start) / 1000
  }).pipe(
    Effect.provide(Device.layerSqlite(dir, { deviceId: device, libraryId: LibraryId.make(randomUUID()) }))
  )

export const run = (rows: number, report: Report) =>
  Effect.gen(function* () {
    const device = DeviceId.make(randomUUID())
    yield* Effect.log(`store: generating ${rows} entry rows`)
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
        `  ratio engine/raw: ${(engineRate / rawRate).toFixed(2)} (target >= 0.40)`
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
