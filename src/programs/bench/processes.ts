// What the benchmarks that run daemon processes share: free ports, starting a program of dist/programs with
// its output read, waiting for a log line, peak memory of a process, counting a kind's rows in a database
// file, and a source device filled with N entries without holding them in memory.
import Database from "better-sqlite3"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { readFileSync } from "node:fs"
import { createServer } from "node:net"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import * as DataDir from "../../app/DataDir.js"
import * as Hlc from "../../domain/Hlc.js"
import { Uuid } from "../../domain/Ids.js"
import type { Row } from "../../domain/Row.js"
import * as Device from "../../layers/Device.js"
import { HlcClock } from "../../services/HlcClock.js"
import { Library } from "../../services/Library.js"
import { LibraryStore } from "../../services/LibraryStore.js"

const programs = join(dirname(fileURLToPath(import.meta.url)), "..")
/** Rows per page of the baseline pipeline and of the source's writes. */
export const PAGE = 10_000

export const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolve(port))
    })
  })

/** Peak resident set size of a running process, in MB (VmHWM), or 0 once it is gone. */
export const peakRssMb = (pid: number | undefined) => {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8")
      .split("\n")
      .find((l) => l.startsWith("VmHWM:"))
    return line === undefined ? 0 : Number(line.split(/\s+/)[1]) / 1024
  } catch {
    return 0
  }
}

/** Keep `peak.mb` at the highest peak RSS of `pid` seen, sampled every 100 ms until the timer is cleared. */
export const sample = (pid: number | undefined, peak: { mb: number }) =>
  setInterval(() => {
    peak.mb = Math.max(peak.mb, peakRssMb(pid))
  }, 100)

/**
 * TIDEMARK_BENCH_PROFILE=DIR writes a CPU profile of every process started here into DIR;
 * TIDEMARK_BENCH_NODE_FLAGS="…" passes node flags to every process (e.g. `--heap-growing-percent=0` gives
 * the daemons V8's default heap growth back).
 */
const profiling = process.env.TIDEMARK_BENCH_PROFILE
const nodeFlags = (process.env.TIDEMARK_BENCH_NODE_FLAGS ?? "").split(/\s+/).filter((f) => f !== "")

/** Start `dist/programs/<script>` with `args`. */
export const start = (script: string, args: ReadonlyArray<string>) => {
  const child = spawn(
    process.execPath,
    [
      ...(profiling ? ["--cpu-prof", `--cpu-prof-dir=${profiling}`] : []),
      ...nodeFlags,
      join(programs, script),
      ...args
    ],
    { stdio: ["ignore", "pipe", "pipe"] }
  )
  // Keep reading its output: a full pipe would block the process on its next log line.
  child.stdout.resume()
  child.stderr.resume()
  return child
}

/**
 * Resolves when `text` appears in the process's output (from now on), `times` times; rejects if it exits
 * first.
 */
export const waitForLine = (child: ChildProcess, text: string, times = 1) =>
  new Promise<void>((resolve, reject) => {
    let seen = ""
    const onData = (chunk: Buffer) => {
      seen += chunk.toString()
      if (seen.split(text).length - 1 >= times) resolve()
    }
    child.stdout?.on("data", onData)
    child.stderr?.on("data", onData)
    child.once("exit", (code) =>
      reject(new Error(`${text} never appeared; exited ${code}: ${seen.slice(-500)}`))
    )
  })

/** SIGTERM each process and wait until all have exited. */
export const stop = (children: ReadonlyArray<ChildProcess>) => {
  for (const c of children) c.kill("SIGTERM")
  return Promise.all(
    children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once("exit", r))))
  )
}

/** How many rows of `kind` a database file holds. */
export const rowsIn = (file: string, kind = "entry") => {
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    return (db.prepare(`SELECT count(*) AS n FROM "${kind}"`).get() as { n: number }).n
  } finally {
    db.close()
  }
}

/** The fields of the n-th generated entry. */
export const entryFields = (location: Uuid, n: number) => ({
  location,
  parent: null,
  name: `file-${n}.dat`,
  kind: "file",
  size: n * 17,
  modified_at: 1_700_000_000_000 + n,
  content_hash: null
})

/**
 * A source device holding one location and `rows` entries with random v4 uuids, as real entries have. The
 * entries are stamped with the device's clock and stored as a bulk load (the table's uuid index is built
 * once at the end), a page of `PAGE` at a time: writing 10M rows one transaction of local writes after
 * another would take longer than the benchmark itself, and only one page is ever in memory.
 */
export const makeSource = (root: string, rows: number) =>
  Effect.gen(function* () {
    const dir = join(root, "a")
    const identity = yield* DataDir.initLibrary(dir, "bench source")
    yield* Effect.gen(function* () {
      const library = yield* Library
      const store = yield* LibraryStore
      const clock = yield* HlcClock
      const location = Uuid.make("00000000-0000-4000-8000-00000000beef")
      yield* library.write("location", [
        { uuid: location, fields: { volume: null, path: "/bench", name: "bench" } }
      ])
      const bulk = store.bulk!
      const loading = yield* bulk.begin("entry")
      for (let first = 0; first < rows; first += PAGE) {
        const n = Math.min(PAGE, rows - first)
        const versions = yield* clock.nowBatch(n)
        const page = Array.from({ length: n }, (_, i): Row => ({
          uuid: Uuid.make(randomUUID()),
          version: Hlc.toHlcString(versions[i]!),
          deleted: false,
          owner: identity.deviceId,
          fields: entryFields(location, first + i)
        }))
        yield* store.apply("entry", page, { bulk: loading })
      }
      yield* bulk.end("entry")
    }).pipe(Effect.scoped, Effect.provide(Device.layerSqlite(dir, identity)))
    return { dir, identity }
  })
