// Catch-up after a reconnect: device B has backfilled a library of N entries from A, goes offline, A changes
// a small share of the entries (updates and some deletes), and B is started again. Measures the time until B
// is caught up (from its `Connected to` line, and from starting its process) and the bytes on the wire, counted
// by the kernel's TCP counters of the connection (`ss`), next to what the changed rows weigh encoded alone
// (one MessagePack array of them, as a page carries them, without framing or TLS): the catch-up should move
// little more than what changed.
import Database from "better-sqlite3"
import { Effect } from "effect"
import { Packr } from "msgpackr"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as DataDir from "../../app/DataDir.js"
import type { Uuid } from "../../domain/Ids.js"
import * as Device from "../../layers/Device.js"
import { Library } from "../../services/Library.js"
import { LibraryStore } from "../../services/LibraryStore.js"
import { freePort, makeSource, sample, start, stop, waitForLine } from "./processes.js"
import type { Report } from "./report.js"

/** Share of the changed rows that are deletes; the others are updates. */
const DELETE_SHARE = 0.2

/**
 * TCP payload bytes, both ways, of the established connections whose local port is `port` (the serving
 * ends of connections to a daemon listening there), from the kernel's per-socket counters.
 */
export const tcpBytes = (port: number) => {
  const out = execFileSync("ss", ["-tinH", "state", "established", `( sport = :${port} )`], {
    encoding: "utf8"
  })
  let total = 0
  for (const m of out.matchAll(/bytes_(?:sent|received):(\d+)/g)) total += Number(m[1])
  return total
}

/** `fields` of the stored entries as the application writes them. */
type EntryRow = { uuid: Uuid } & Record<string, unknown>

/** Pick `n` stored entries at random. */
const pickEntries = (file: string, n: number): ReadonlyArray<EntryRow> => {
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    return db
      .prepare(
        `SELECT uuid, location, parent, name, kind, size, modified_at, content_hash FROM entry
         WHERE deleted = 0 ORDER BY random() LIMIT ?`
      )
      .all(n) as Array<EntryRow>
  } finally {
    db.close()
  }
}

/** Versions of `uuids` in a database file, as one string to compare. */
const versionsIn = (file: string, uuids: ReadonlyArray<string>) => {
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    const get = db.prepare(`SELECT version, deleted FROM entry WHERE uuid = ?`)
    return uuids.map((u) => JSON.stringify(get.all(u))).join("\n")
  } finally {
    db.close()
  }
}

/**
 * On A's data directory (its daemon running), update and delete the picked entries in one write; returns the
 * changed rows' encoded size: the rows A now serves after its previous last seq, packed as a page packs them.
 */
const change = (dir: string, identity: DataDir.Identity, picked: ReadonlyArray<EntryRow>) =>
  Effect.gen(function* () {
    const library = yield* Library
    const store = yield* LibraryStore
    const before = yield* store.lastSeq("entry")
    const deletes = Math.round(picked.length * DELETE_SHARE)
    yield* library.write(
      "entry",
      picked.map(({ uuid, ...fields }, i) => ({
        uuid,
        fields:
          i < deletes ? fields : { ...fields, size: (fields.size as number) + 1, name: `changed-${i}.dat` },
        deleted: i < deletes
      }))
    )
    const rows = yield* store.readAfter("entry", before, picked.length + 1)
    const page = rows.map(({ seq: _, ...row }) => row)
    return { deletes, encodedBytes: new Packr({ useRecords: true }).pack(page).length }
  }).pipe(Effect.provide(Device.layerSqlite(dir, identity)))

export const run = (options: { readonly rows: number; readonly changed: number }, report: Report) =>
  Effect.gen(function* () {
    const { rows, changed } = options
    const root = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "tidemark-bench-catchup-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
    const children: Array<ReturnType<typeof start>> = []
    yield* Effect.addFinalizer(() => Effect.promise(() => stop(children)))
    {
      yield* Effect.log(`catchup: writing ${rows} entries to the source device`)
      const source = yield* makeSource(root, rows)
      const [portA, portB] = [yield* Effect.promise(freePort), yield* Effect.promise(freePort)]
      const daemonA = start("daemon.js", ["--data-dir", source.dir, "--listen", `127.0.0.1:${portA}`])
      children.push(daemonA)
      yield* Effect.promise(() => waitForLine(daemonA, "Listening"))
      const dirB = join(root, "b")
      yield* DataDir.joinLibrary(dirB, DataDir.joinCodeOf(source.identity), "bench receiver")
      const argsB = ["--data-dir", dirB, "--listen", `127.0.0.1:${portB}`, "--peer", `127.0.0.1:${portA}`]
      yield* Effect.log(`catchup: B backfills ${rows} entries, then stops`)
      const first = start("daemon.js", argsB)
      children.push(first)
      yield* Effect.promise(() => waitForLine(first, "Caught up on entry"))
      yield* Effect.promise(() => stop([first]))

      const picked = pickEntries(join(source.dir, Device.DATABASE_FILE), changed)
      const { deletes, encodedBytes } = yield* change(source.dir, source.identity, picked)
      yield* Effect.log(`catchup: A changed ${picked.length} entries (${deletes} deleted); B starts again`)

      const began = performance.now()
      const daemonB = start("daemon.js", argsB)
      children.push(daemonB)
      const peak = { mb: 0 }
      const timer = sample(daemonB.pid, peak)
      const connected = waitForLine(daemonB, "Connected to").then(() => performance.now())
      yield* Effect.promise(() => waitForLine(daemonB, "Caught up on entry"))
      const ended = performance.now()
      // B's connection to A: the catch-up itself (handshake, exchange, every kind's pull).
      const wireBytes = tcpBytes(portA)
      const connectedAt = yield* Effect.promise(() => connected)
      clearInterval(timer)
      // A pulls from B too (B serves what it holds, A's own rows included): once that connection is quiet,
      // what it moved is the echo of the changed rows.
      let echoBytes = tcpBytes(portB)
      for (let quiet = 0; quiet < 5;) {
        yield* Effect.sleep("200 millis")
        const now = tcpBytes(portB)
        quiet = now === echoBytes && now > 0 ? quiet + 1 : 0
        echoBytes = now
        if (performance.now() - ended > 30_000) break
      }
      const uuids = picked.map((p) => p.uuid)
      if (
        versionsIn(join(source.dir, Device.DATABASE_FILE), uuids) !==
        versionsIn(join(dirB, Device.DATABASE_FILE), uuids)
      ) {
        throw new Error("B caught up without every changed entry's newest version")
      }
      const catchUpMs = ended - connectedAt
      const withStartupMs = ended - began
      const ratio = wireBytes / encodedBytes
      report.line(
        `catchup: B held ${rows} entries, A changed ${picked.length} (${picked.length - deletes} updated, ${deletes} deleted) while B was offline`
      )
      report.line(
        `  time until caught up: ${catchUpMs.toFixed(0)} ms from B's connection, ${withStartupMs.toFixed(0)} ms with B's start-up (target < 1 s)`
      )
      report.line(
        `  bytes on the wire (TCP, both ways, B's connection to A): ${wireBytes}; the changed rows encoded alone: ${encodedBytes}; ratio ${ratio.toFixed(2)} (target <= 1.5)`
      )
      report.line(
        `  A's connection to B afterwards (the changed rows echoed back to their owner): ${echoBytes} bytes`
      )
      report.result({
        rows,
        changedRows: picked.length,
        deletedRows: deletes,
        catchUpMs: Math.round(catchUpMs),
        withStartupMs: Math.round(withStartupMs),
        wireBytes,
        changedRowsBytes: encodedBytes,
        bytesRatio: Math.round(ratio * 100) / 100,
        echoBytes,
        receiverPeakRssMb: Math.round(peak.mb)
      })
    }
  }).pipe(Effect.scoped)
