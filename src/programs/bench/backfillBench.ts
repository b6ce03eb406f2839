// Backfill between two daemon processes over loopback TCP, next to a baseline measured in the same run: the
// plain pipeline of pipeline.ts (read SQLite, msgpack over TCP, upsert into a second SQLite file), with
// SQLite's default pragmas (the baseline) and with the pragmas Tidemark opens its files with. Reports
// rows/s of each, their ratios, and the peak resident memory of each receiving process.
import Database from "better-sqlite3"
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { randomUUID } from "node:crypto"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { Uuid } from "../../domain/Ids.js"
import * as DataDir from "../../app/DataDir.js"
import * as Device from "../../layers/Device.js"
import { Library } from "../../services/Library.js"
import type { Report } from "./report.js"

const programs = join(dirname(fileURLToPath(import.meta.url)), "..")
/** Rows per page of the baseline pipeline and of the source's writes. */
const PAGE = 10_000

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolve(port))
    })
  })

/** Peak resident set size of a running process, in MB (VmHWM), or 0 once it is gone. */
const peakRssMb = (pid: number | undefined) => {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8")
      .split("\n")
      .find((l) => l.startsWith("VmHWM:"))
    return line === undefined ? 0 : Number(line.split(/\s+/)[1]) / 1024
  } catch {
    return 0
  }
}

/**
 * TIDEMARK_BENCH_PROFILE=DIR writes a CPU profile of every process started here into DIR;
 * TIDEMARK_BENCH_NODE_FLAGS="…" passes node flags to every process (e.g. `--heap-growing-percent=0` gives
 * the daemons V8's default heap growth back).
 */
const profiling = process.env.TIDEMARK_BENCH_PROFILE
const nodeFlags = (process.env.TIDEMARK_BENCH_NODE_FLAGS ?? "").split(/\s+/).filter((f) => f !== "")
const start = (script: string, args: ReadonlyArray<string>) => {
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

const waitForLine = (child: ChildProcess, text: string) =>
  new Promise<void>((resolve, reject) => {
    let seen = ""
    const onData = (chunk: Buffer) => {
      seen += chunk.toString()
      if (seen.includes(text)) resolve()
    }
    child.stdout?.on("data", onData)
    child.stderr?.on("data", onData)
    child.once("exit", (code) =>
      reject(new Error(`${text} never appeared; exited ${code}: ${seen.slice(-500)}`))
    )
  })

/** A source device holding one location and `rows` entries, written through the engine. */
const makeSource = (root: string, rows: number) =>
  Effect.gen(function* () {
    const dir = join(root, "a")
    const identity = yield* DataDir.initLibrary(dir, "bench source")
    yield* Effect.gen(function* () {
      const library = yield* Library
      const location = Uuid.make("00000000-0000-4000-8000-00000000beef")
      yield* library.write("location", [
        { uuid: location, fields: { volume: null, path: "/bench", name: "bench" } }
      ])
      for (let start = 0; start < rows; start += PAGE) {
        yield* library.write(
          "entry",
          Array.from({ length: Math.min(PAGE, rows - start) }, (_, i) => {
            const n = start + i
            return {
              // Random v4 uuids, as real entries have: the receiver's unique index takes them at random.
              uuid: Uuid.make(randomUUID()),
              fields: {
                location,
                parent: null,
                name: `file-${n}.dat`,
                kind: "file",
                size: n * 17,
                modified_at: 1_700_000_000_000 + n,
                content_hash: null
              }
            }
          })
        )
      }
    }).pipe(Effect.provide(Device.layerSqlite(dir, identity)))
    return { dir, identity }
  })

const sample = (pid: number | undefined, peak: { mb: number }) =>
  setInterval(() => {
    peak.mb = Math.max(peak.mb, peakRssMb(pid))
  }, 100)

/** How many entries a database file holds. */
const entriesIn = (file: string) => {
  const db = new Database(file, { readonly: true, fileMustExist: true })
  try {
    return (db.prepare("SELECT count(*) AS n FROM entry").get() as { n: number }).n
  } finally {
    db.close()
  }
}

const baseline = async (root: string, sourceDb: string, tuned: boolean, rows: number) => {
  const port = await freePort()
  const file = join(root, tuned ? "baseline-tuned.db" : "baseline.db")
  const receiver = start("bench/pipeline.js", ["receive", file, String(port), ...(tuned ? ["tuned"] : [])])
  await waitForLine(receiver, "ready")
  const peak = { mb: 0 }
  const timer = sample(receiver.pid, peak)
  const began = performance.now()
  const done = new Promise<void>((resolve) => receiver.once("exit", () => resolve()))
  start("bench/pipeline.js", ["send", sourceDb, String(port), String(PAGE)])
  await done
  const seconds = (performance.now() - began) / 1000
  clearInterval(timer)
  const n = entriesIn(file)
  if (n !== rows) throw new Error(`the baseline pipeline delivered ${n} entries, not ${rows}`)
  return { seconds, peakMb: peak.mb }
}

const tidemark = async (
  root: string,
  source: { dir: string; identity: DataDir.Identity },
  rows: number,
  batchSize: number
) => {
  const portA = await freePort()
  const portB = await freePort()
  const daemonA = start("daemon.js", ["--data-dir", source.dir, "--listen", `127.0.0.1:${portA}`])
  await waitForLine(daemonA, "Listening")
  const dirB = join(root, "b")
  await Effect.runPromise(DataDir.joinLibrary(dirB, DataDir.joinCodeOf(source.identity), "bench receiver"))
  const began = performance.now()
  const daemonB = start("daemon.js", [
    "--data-dir",
    dirB,
    "--listen",
    `127.0.0.1:${portB}`,
    "--peer",
    `127.0.0.1:${portA}`,
    "--batch-size",
    String(batchSize)
  ])
  const peak = { mb: 0 }
  const timer = sample(daemonB.pid, peak)
  // B says when it has connected and when it has caught up; polling its database instead would put a third
  // process on the two cores.
  const connected = waitForLine(daemonB, "Connected to").then(() => performance.now())
  await waitForLine(daemonB, "Caught up on entry")
  const ended = performance.now()
  const seconds = (ended - began) / 1000
  const transferSeconds = (ended - (await connected)) / 1000
  clearInterval(timer)
  const n = entriesIn(join(dirB, Device.DATABASE_FILE))
  if (n !== rows) throw new Error(`B caught up holding ${n} entries, not ${rows}`)
  for (const d of [daemonA, daemonB]) d.kill("SIGTERM")
  await Promise.all(
    [daemonA, daemonB].map((d) => new Promise((r) => (d.exitCode !== null ? r(null) : d.once("exit", r))))
  )
  return { seconds, transferSeconds, peakMb: peak.mb }
}

export const run = (sizes: ReadonlyArray<number>, batchSize: number, report: Report) =>
  Effect.gen(function* () {
    const results: Array<{
      rows: number
      baseline: { seconds: number; peakMb: number }
      tunedBaseline: { seconds: number; peakMb: number }
      engine: { seconds: number; transferSeconds: number; peakMb: number }
    }> = []
    for (const rows of sizes) {
      const root = mkdtempSync(join(tmpdir(), "tidemark-bench-backfill-"))
      try {
        yield* Effect.log(`backfill: writing ${rows} entries to the source device`)
        const source = yield* makeSource(root, rows)
        const sourceDb = join(source.dir, Device.DATABASE_FILE)
        const base = yield* Effect.promise(() => baseline(root, sourceDb, false, rows))
        const tuned = yield* Effect.promise(() => baseline(root, sourceDb, true, rows))
        const engine = yield* Effect.promise(() => tidemark(root, source, rows, batchSize))
        results.push({ rows, baseline: base, tunedBaseline: tuned, engine })
        const rate = (s: number) => Math.round(rows / s)
        report.line(
          `backfill: ${rows} entries, two processes over loopback; baseline pages of ${PAGE}, Tidemark --batch-size ${batchSize}`
        )
        report.line(
          `  baseline pipeline (SQLite → msgpack/TCP → upsert):   ${rate(base.seconds)} rows/s (${base.seconds.toFixed(2)} s), receiver peak RSS ${base.peakMb.toFixed(0)} MB`
        )
        report.line(
          `  same, Tidemark's pragmas (NORMAL sync, 32 MiB cache): ${rate(tuned.seconds)} rows/s (${tuned.seconds.toFixed(2)} s), receiver peak RSS ${tuned.peakMb.toFixed(0)} MB`
        )
        report.line(
          `  Tidemark daemons (TLS, auth, checks, checkpoints):   ${rate(engine.transferSeconds)} rows/s (${engine.transferSeconds.toFixed(2)} s from B's connection; ${engine.seconds.toFixed(2)} s with B's start-up), receiver peak RSS ${engine.peakMb.toFixed(0)} MB`
        )
        report.line(
          `  ratio Tidemark/baseline: ${(base.seconds / engine.transferSeconds).toFixed(2)} (target >= 0.80); with B's start-up ${(base.seconds / engine.seconds).toFixed(2)}; to the tuned baseline ${(tuned.seconds / engine.transferSeconds).toFixed(2)}`
        )
        report.result({
          rows,
          tidemarkRowsPerSec: rate(engine.transferSeconds),
          baselineRowsPerSec: rate(base.seconds),
          tunedBaselineRowsPerSec: rate(tuned.seconds),
          withStartupRowsPerSec: rate(engine.seconds),
          receiverPeakRssMb: Math.round(engine.peakMb)
        })
      } finally {
        rmSync(root, { recursive: true, force: true })
      }
    }
    if (results.length > 1) {
      const [small, large] = [results[0]!, results.at(-1)!]
      report.line(
        `backfill: receiver peak RSS ${large.rows} vs ${small.rows}: ${(large.engine.peakMb / small.engine.peakMb).toFixed(2)}× (target <= 1.3×, < 300 MB)`
      )
    }
    return results
  })
