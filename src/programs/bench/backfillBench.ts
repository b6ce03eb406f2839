// Backfill between two daemon processes over loopback TCP, next to a baseline measured in the same run: the
// plain pipeline of pipeline.ts (read SQLite, msgpack over TCP, upsert into a second SQLite file), with
// SQLite's default pragmas (the baseline) and with the pragmas Tidemark opens its files with. Reports
// rows/s of each, their ratios, and the peak resident memory of each receiving process. Without baselines
// (`--no-baselines`, for 10M rows, where each baseline alone takes many minutes) only Tidemark runs; with
// several sizes, the largest one's time and memory are compared with the smallest's.
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { availableParallelism, tmpdir } from "node:os"
import { join } from "node:path"
import * as DataDir from "../../app/DataDir.js"
import * as Device from "../../layers/Device.js"
import { cpuMs } from "./cpu.js"
import { freePort, makeSource, PAGE, rowsIn, sample, start, stop, waitForLine } from "./processes.js"
import type { Report } from "./report.js"
import * as TwoPeers from "./twoPeersBench.js"

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
  const n = rowsIn(file)
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
  const connected = waitForLine(daemonB, "Connected to").then(() => ({
    at: performance.now(),
    cpu: cpuOf(daemonA.pid, daemonB.pid)
  }))
  await waitForLine(daemonB, "Caught up on entry")
  const ended = performance.now()
  const endCpu = cpuOf(daemonA.pid, daemonB.pid)
  const seconds = (ended - began) / 1000
  const from = await connected
  const transferSeconds = (ended - from.at) / 1000
  const cpuSeconds = {
    sender: (endCpu.sender - from.cpu.sender) / 1000,
    receiver: (endCpu.receiver - from.cpu.receiver) / 1000,
    receiverMainThread: (endCpu.receiverMainThread - from.cpu.receiverMainThread) / 1000
  }
  clearInterval(timer)
  const n = rowsIn(join(dirB, Device.DATABASE_FILE))
  if (n !== rows) throw new Error(`B caught up holding ${n} entries, not ${rows}`)
  await stop([daemonA, daemonB])
  return { seconds, transferSeconds, peakMb: peak.mb, cpuSeconds }
}

/** CPU milliseconds so far of the sender (A), the receiver (B) and B's main thread (NaN without /proc). */
export const cpuOf = (sender: number | undefined, receiver: number | undefined) => ({
  sender: sender === undefined ? NaN : (cpuMs(sender) ?? NaN),
  receiver: receiver === undefined ? NaN : (cpuMs(receiver) ?? NaN),
  receiverMainThread: receiver === undefined ? NaN : (cpuMs(receiver, "mainThread") ?? NaN)
})

interface Measured {
  readonly seconds: number
  readonly peakMb: number
}

/** What one size measured; the baselines are absent when they were not run. */
export interface SizeResult {
  readonly rows: number
  readonly baseline?: Measured
  readonly tunedBaseline?: Measured
  readonly engine: Measured & {
    readonly transferSeconds: number
    /** CPU seconds over the transfer (from B's connection until caught up). */
    readonly cpuSeconds: {
      readonly sender: number
      readonly receiver: number
      readonly receiverMainThread: number
    }
  }
  /** The same rows backfilled from two peers at once (`--peers 2`). */
  readonly twoPeers?: TwoPeers.TwoPeersResult
}

const rate = (rows: number, seconds: number) => Math.round(rows / seconds)
const round2 = (x: number) => Math.round(x * 100) / 100

const reportSize = (r: SizeResult, batchSize: number, report: Report) => {
  const { rows, engine } = r
  report.line(
    `backfill: ${rows} entries, two processes over loopback; baseline pages of ${PAGE}, Tidemark --batch-size ${batchSize}`
  )
  const described = (m: Measured) =>
    `${rate(rows, m.seconds)} rows/s (${m.seconds.toFixed(2)} s), receiver peak RSS ${m.peakMb.toFixed(0)} MB`
  if (r.baseline !== undefined && r.tunedBaseline !== undefined) {
    report.line(`  baseline pipeline (SQLite → msgpack/TCP → upsert):   ${described(r.baseline)}`)
    report.line(`  same, Tidemark's pragmas (NORMAL sync, 32 MiB cache): ${described(r.tunedBaseline)}`)
  }
  report.line(
    `  Tidemark daemons (TLS, auth, checks, checkpoints):   ${rate(rows, engine.transferSeconds)} rows/s (${engine.transferSeconds.toFixed(2)} s from B's connection; ${engine.seconds.toFixed(2)} s with B's start-up), receiver peak RSS ${engine.peakMb.toFixed(0)} MB`
  )
  const fields: Record<string, number> = { rows, tidemarkRowsPerSec: rate(rows, engine.transferSeconds) }
  if (r.baseline !== undefined && r.tunedBaseline !== undefined) {
    report.line(
      `  ratio Tidemark/baseline: ${(r.baseline.seconds / engine.transferSeconds).toFixed(2)} (target >= 0.80); with B's start-up ${(r.baseline.seconds / engine.seconds).toFixed(2)}; to the tuned baseline ${(r.tunedBaseline.seconds / engine.transferSeconds).toFixed(2)}`
    )
    fields.baselineRowsPerSec = rate(rows, r.baseline.seconds)
    fields.tunedBaselineRowsPerSec = rate(rows, r.tunedBaseline.seconds)
  }
  fields.withStartupRowsPerSec = rate(rows, engine.seconds)
  fields.receiverPeakRssMb = Math.round(engine.peakMb)
  const cpu = engine.cpuSeconds
  if (Number.isFinite(cpu.receiverMainThread)) {
    // Whatever the number of peers, B's main thread decodes, checks and applies every row, and the machine's cores
    // share all the processes' CPU time: so pulling from more peers at once cannot finish sooner than
    // either bound. The ceiling is how much faster than this run that would be at best.
    const bound = Math.max(cpu.receiverMainThread, (cpu.sender + cpu.receiver) / availableParallelism())
    const ceiling = engine.transferSeconds / bound
    report.line(
      `  CPU over the transfer: sender ${cpu.sender.toFixed(2)} s, receiver ${cpu.receiver.toFixed(2)} s (main thread ${cpu.receiverMainThread.toFixed(2)} s); several peers at once could be at most ${ceiling.toFixed(2)}× faster on this machine`
    )
    fields.senderCpuSeconds = round2(cpu.sender)
    fields.receiverCpuSeconds = round2(cpu.receiver)
    fields.receiverMainThreadCpuSeconds = round2(cpu.receiverMainThread)
    fields.severalPeersCeiling = round2(ceiling)
  }
  const two = r.twoPeers
  if (two !== undefined) {
    const ratio = engine.transferSeconds / two.transferSeconds
    report.line(
      `  two peers at once (split by uuid range): ${rate(rows, two.transferSeconds)} rows/s (${two.transferSeconds.toFixed(2)} s from the first connection until both streams reconciled; every row held after ${two.splitSeconds.toFixed(2)} s), ${ratio.toFixed(2)}× the one-peer time (target >= 1.5); CPU: senders ${two.cpuSeconds.senders.toFixed(2)} s, receiver ${two.cpuSeconds.receiver.toFixed(2)} s (main thread ${two.cpuSeconds.receiverMainThread.toFixed(2)} s)`
    )
    fields.twoPeersRowsPerSec = rate(rows, two.transferSeconds)
    fields.twoPeersRatio = round2(ratio)
    fields.twoPeersSplitSeconds = round2(two.splitSeconds)
    fields.twoPeersSendersCpuSeconds = round2(two.cpuSeconds.senders)
    fields.twoPeersReceiverCpuSeconds = round2(two.cpuSeconds.receiver)
    fields.twoPeersReceiverMainThreadCpuSeconds = round2(two.cpuSeconds.receiverMainThread)
  }
  report.result(fields)
}

/**
 * How the largest size scales from the smallest: its time from B's connection over the smallest one's (the
 * issue's bound for 10M over 1M is 11×) and the receiver's peak memory (bound: 250 MB).
 */
const reportScale = (small: SizeResult, large: SizeResult, report: Report) => {
  const timeRatio = large.engine.transferSeconds / small.engine.transferSeconds
  const rssRatio = large.engine.peakMb / small.engine.peakMb
  report.line(
    `backfill: ${large.rows} vs ${small.rows} entries: time ${timeRatio.toFixed(2)}× for ${Number((large.rows / small.rows).toFixed(1))}× the rows; receiver peak RSS ${large.engine.peakMb.toFixed(0)} MB, ${rssRatio.toFixed(2)}× (targets at 10M over 1M: <= 11×, <= 250 MB)`
  )
  report.result({
    rows: large.rows,
    comparedWithRows: small.rows,
    timeRatio: round2(timeRatio),
    receiverPeakRssMb: Math.round(large.engine.peakMb),
    receiverPeakRssRatio: round2(rssRatio)
  })
}

export const run = (
  sizes: ReadonlyArray<number>,
  options: { readonly batchSize: number; readonly baselines: boolean; readonly peers?: number },
  report: Report
) =>
  Effect.gen(function* () {
    const results: Array<SizeResult> = []
    for (const rows of sizes) {
      const root = mkdtempSync(join(tmpdir(), "tidemark-bench-backfill-"))
      try {
        yield* Effect.log(`backfill: writing ${rows} entries to the source device`)
        const source = yield* makeSource(root, rows)
        const sourceDb = join(source.dir, Device.DATABASE_FILE)
        const baselines = options.baselines
          ? {
              baseline: yield* Effect.promise(() => baseline(root, sourceDb, false, rows)),
              tunedBaseline: yield* Effect.promise(() => baseline(root, sourceDb, true, rows))
            }
          : {}
        const engine = yield* Effect.promise(() => tidemark(root, source, rows, options.batchSize))
        const twoPeers =
          (options.peers ?? 1) >= 2
            ? { twoPeers: yield* TwoPeers.run(root, source, rows, options.batchSize) }
            : {}
        const result: SizeResult = { rows, ...baselines, engine, ...twoPeers }
        results.push(result)
        reportSize(result, options.batchSize, report)
      } finally {
        rmSync(root, { recursive: true, force: true })
      }
    }
    if (results.length > 1) reportScale(results[0]!, results.at(-1)!, report)
    return results
  })
