// Benchmark: the fingerprint of a whole kind on SQLite, over uuid, version and contents (what verify and
// reconciliation compute today), next to a baseline over uuid and version only (protocol version 1's format,
// reproduced here with the same paging), measured in one run on the same table. N entry rows of the file
// library (7 fields) are written once into a fresh database.db; then both are timed alternately, 3 times
// each, and the best CPU time of each is printed, with that of only reading every column the new one reads.
// Run: `npx vite-node test/bench/fingerprint.ts [rows]` (default 1,000,000).
import { Context, Effect, Layer } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Fingerprint from "../../src/domain/Fingerprint.js"
import * as Hlc from "../../src/domain/Hlc.js"
import { Uuid } from "../../src/domain/Ids.js"
import type { ResourceType } from "../../src/domain/Resource.js"
import * as Device from "../../src/layers/Device.js"
import { LibraryDb } from "../../src/layers/Sqlite.js"
import { LibraryStore } from "../../src/services/LibraryStore.js"
import { deviceA, deviceB, entryFields, libraryId } from "../support/fixtures.js"

const ROWS = Number(process.argv[2] ?? 1_000_000)
const PAGE = 10_000
const entry = "entry" as ResourceType

/** A uuid spread over the whole range, as random v4 uuids are. */
const uuidOf = (n: number): Uuid => {
  const h = (Math.imul(n + 1, 0x9e3779b1) >>> 0).toString(16).padStart(8, "0")
  return Uuid.make(
    `${h}-${(n & 0xffff).toString(16).padStart(4, "0")}-4000-8000-${n.toString(16).padStart(12, "0")}`
  )
}

/** Version 1's fingerprint: FNV-1a of `uuid|version` from two seeds, paged by uuid like the store's. */
const fnv = (s: string, seed: number) => {
  let h = seed >>> 0
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0
  return h
}
const baseline = (sql: LibraryDb["Type"]) =>
  Effect.gen(function* () {
    let count = 0
    let h1 = 0
    let h2 = 0
    let after = ""
    for (;;) {
      const rows = yield* sql.unsafe<{ uuid: string; version: string }>(
        `SELECT uuid, version FROM entry WHERE uuid > ? AND uuid < ? ORDER BY uuid LIMIT ?`,
        [after, "g", PAGE]
      )
      for (const r of rows) {
        const key = `${r.uuid}|${r.version}`
        count += 1
        h1 = (h1 + fnv(key, 0x811c9dc5)) >>> 0
        h2 = (h2 + fnv(key, 0x6a09e667)) >>> 0
      }
      if (rows.length < PAGE) return { count, h1, h2 }
      after = rows[rows.length - 1]!.uuid
    }
  })

/** Only reading the rows the fingerprint reads (every column, by uuid pages), without hashing them. */
const readOnly = (sql: LibraryDb["Type"]) =>
  Effect.gen(function* () {
    let after = ""
    let n = 0
    for (;;) {
      const rows = yield* sql.unsafe(
        `SELECT * FROM entry WHERE uuid > ? AND uuid < ? ORDER BY uuid LIMIT ?`,
        [after, "g", PAGE]
      ).values
      n += rows.length
      if (rows.length < PAGE) return n
      after = rows[rows.length - 1]![1] as string
    }
  })

/**
 * The CPU time of this process while `effect` runs (SQLite runs in it, synchronously): unlike the wall
 * clock, it does not count other processes' work on a shared machine.
 */
const timed = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const before = process.cpuUsage()
    const a = yield* effect
    const used = process.cpuUsage(before)
    return { millis: Math.round((used.user + used.system) / 1000), a }
  })

const main = Effect.gen(function* () {
  const dir = mkdtempSync(join(tmpdir(), "tidemark-fingerprint-bench-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  const ctx = yield* Layer.build(Device.layerSqliteWithDb(dir, { deviceId: deviceA, libraryId }))
  const store = Context.get(ctx, LibraryStore)
  const sql = Context.get(ctx, LibraryDb)
  for (let start = 0; start < ROWS; start += PAGE) {
    const rows = Array.from({ length: Math.min(PAGE, ROWS - start) }, (_, i) => {
      const n = start + i
      return {
        uuid: uuidOf(n),
        version: Hlc.toHlcString(Hlc.make(1_700_000_000_000 + n, 0, deviceB)),
        deleted: false,
        owner: deviceB,
        fields: { ...entryFields(n, uuidOf(ROWS + 1)), content_hash: n.toString(16).repeat(4) }
      }
    })
    yield* store.apply(entry, rows)
  }
  const base: Array<number> = []
  const contents: Array<number> = []
  const reads: Array<number> = []
  for (let i = 0; i < 3; i++) {
    base.push((yield* timed(baseline(sql))).millis)
    reads.push((yield* timed(readOnly(sql))).millis)
    const c = yield* timed(store.fingerprint(entry, Fingerprint.FULL_RANGE))
    if (c.a.count !== ROWS) throw new Error(`fingerprint counted ${c.a.count} rows, not ${ROWS}`)
    contents.push(c.millis)
  }
  const best = (xs: ReadonlyArray<number>) => Math.min(...xs)
  console.log(`fingerprint of ${ROWS} entry rows on SQLite (CPU time of this process, best of 3):`)
  console.log(`  baseline, uuid and version only (protocol 1):  ${best(base)} ms`)
  console.log(
    `  uuid, version and contents (protocol 2):       ${best(contents)} ms  (${(best(contents) / best(base)).toFixed(2)}×)`
  )
  console.log(`  of which reading every column, without hashing:  ${best(reads)} ms`)
})

Effect.runPromise(Effect.scoped(main)).catch((e) => {
  console.error(e)
  process.exit(1)
})
