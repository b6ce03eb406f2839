// The benchmarks' `--json` output as a script reads it: stdout holds exactly one JSON line per result, with
// the fields the docs name, and every other line goes to stderr. Runs the built bench at a tiny size.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { join } from "node:path"

const BENCH = join(import.meta.dirname, "..", "dist", "programs", "bench.js")

const bench = (args: ReadonlyArray<string>) =>
  Effect.async<{ code: number; stdout: string; stderr: string }>((resume) => {
    const child = execFile(
      process.execPath,
      [BENCH, ...args],
      { timeout: 110_000 },
      (error, stdout, stderr) => resume(Effect.succeed({ code: error === null ? 0 : 1, stdout, stderr }))
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** The only line of stdout, parsed; fails the test when there is not exactly one. */
const onlyJsonLine = (stdout: string) => {
  const lines = stdout.split("\n").filter((l) => l.length > 0)
  expect(lines, stdout).toHaveLength(1)
  return JSON.parse(lines[0]!) as Record<string, unknown>
}

/** Run the bench, expect it to succeed with one JSON line of exactly `fields`, and return that line. */
const jsonLineWith = (args: ReadonlyArray<string>, fields: ReadonlyArray<string>) =>
  Effect.map(bench(args), (r) => {
    expect(r.code, r.stderr).toBe(0)
    const line = onlyJsonLine(r.stdout)
    expect(Object.keys(line)).toEqual(fields)
    return { line, stderr: r.stderr }
  })

const positiveNumbers = (fields: Record<string, unknown>) =>
  Object.values(fields).every((v) => typeof v === "number" && Number.isFinite(v) && v > 0)

/** The backfill's CPU figures over the transfer (Linux); a tiny transfer may use less than a clock tick. */
const CPU_FIELDS = [
  "senderCpuSeconds",
  "receiverCpuSeconds",
  "receiverMainThreadCpuSeconds",
  "severalPeersCeiling"
] as const

const withoutCpu = (fields: Record<string, unknown>) =>
  Object.fromEntries(
    Object.entries(fields).filter(([k]) => !(CPU_FIELDS as ReadonlyArray<string>).includes(k))
  )

/** CPU seconds are not negative, the main thread's are within the process's, and the ceiling is positive. */
const cpuFieldsSound = (f: Record<string, unknown>) => {
  const [sender, receiver, main, ceiling] = CPU_FIELDS.map((k) => f[k])
  return (
    [sender, receiver, main, ceiling].every((v) => typeof v === "number" && Number.isFinite(v)) &&
    (sender as number) >= 0 &&
    (main as number) >= 0 &&
    // read one after the other, so the main thread may have run a clock tick or two more
    (main as number) <= (receiver as number) + 0.02 &&
    (ceiling as number) > 0
  )
}

describe("bench --json", () => {
  it.live(
    "backfill prints one line with the rows and the rates of Tidemark and both baselines",
    () =>
      Effect.gen(function* () {
        const { line, stderr } = yield* jsonLineWith(
          ["backfill", "--rows", "1500", "--json"],
          [
            "rows",
            "tidemarkRowsPerSec",
            "baselineRowsPerSec",
            "tunedBaselineRowsPerSec",
            "withStartupRowsPerSec",
            "receiverPeakRssMb",
            ...CPU_FIELDS
          ]
        )
        expect(line.rows).toBe(1500)
        expect(positiveNumbers(withoutCpu(line)), JSON.stringify(line)).toBe(true)
        expect(cpuFieldsSound(line), JSON.stringify(line)).toBe(true)
        // Counting the receiver's start-up can only make the rate lower.
        expect(line.withStartupRowsPerSec as number).toBeLessThanOrEqual(line.tidemarkRowsPerSec as number)
        expect(stderr).toContain("ratio Tidemark/baseline")
      }),
    120_000
  )

  it.live(
    "live prints one line with the latency's percentiles next to TCP's and the CPU each write cost",
    () =>
      Effect.gen(function* () {
        const { line } = yield* jsonLineWith(
          ["live", "--writes", "30", "--outside-writes", "0", "--json"],
          [
            "writes",
            "baselineP50Ms",
            "baselineP99Ms",
            "p50Ms",
            "p99Ms",
            "maxMs",
            "writeP50Ms",
            "writeP99Ms",
            "receiverCpuMsPerWrite",
            "senderCpuMsPerWrite"
          ]
        )
        expect(line.writes).toBe(30)
        expect(positiveNumbers(line), JSON.stringify(line)).toBe(true)
        expect(line.p50Ms as number).toBeLessThanOrEqual(line.p99Ms as number)
        expect(line.p99Ms as number).toBeLessThanOrEqual(line.maxMs as number)
      }),
    120_000
  )

  it.live(
    "startup prints one line with an empty node's time next to the daemon's and the CLI's",
    () =>
      Effect.gen(function* () {
        const programs = ["node", "cliVersion", "cliHelp", "cliStatus", "cliDump", "daemon"]
        const { line } = yield* jsonLineWith(
          ["startup", "--runs", "1", "--json"],
          ["runs", ...programs.map((p) => `${p}Ms`), ...programs.map((p) => `${p}CpuMs`)]
        )
        expect(line.runs).toBe(1)
        expect(positiveNumbers(line), JSON.stringify(line)).toBe(true)
      }),
    120_000
  )

  it.live(
    "catchup prints one line with the catch-up's time and its bytes next to the changed rows' size",
    () =>
      Effect.gen(function* () {
        const { line } = yield* jsonLineWith(
          ["catchup", "--rows", "3000", "--changed", "40", "--json"],
          [
            "rows",
            "changedRows",
            "deletedRows",
            "catchUpMs",
            "withStartupMs",
            "wireBytes",
            "changedRowsBytes",
            "bytesRatio",
            "echoBytes",
            "receiverPeakRssMb"
          ]
        )
        expect(line).toMatchObject({ rows: 3000, changedRows: 40, deletedRows: 8 })
        const { echoBytes: _, ...rest } = line
        expect(positiveNumbers(rest), JSON.stringify(line)).toBe(true)
        // The catch-up carried at least the changed rows themselves.
        expect(line.wireBytes as number).toBeGreaterThan(line.changedRowsBytes as number)
        expect(line.withStartupMs as number).toBeGreaterThanOrEqual(line.catchUpMs as number)
      }),
    120_000
  )

  it.live(
    "backfill with several sizes and no baselines prints a line per size and one comparing them",
    () =>
      Effect.gen(function* () {
        const r = yield* bench(["backfill", "--rows", "1000,2000", "--no-baselines", "--json"])
        expect(r.code, r.stderr).toBe(0)
        const lines = r.stdout
          .split("\n")
          .filter((l) => l.length > 0)
          .map((l) => JSON.parse(l) as Record<string, unknown>)
        expect(lines.map((l) => Object.keys(l))).toEqual([
          ["rows", "tidemarkRowsPerSec", "withStartupRowsPerSec", "receiverPeakRssMb", ...CPU_FIELDS],
          ["rows", "tidemarkRowsPerSec", "withStartupRowsPerSec", "receiverPeakRssMb", ...CPU_FIELDS],
          ["rows", "comparedWithRows", "timeRatio", "receiverPeakRssMb", "receiverPeakRssRatio"]
        ])
        expect(lines.map((l) => l.rows)).toEqual([1000, 2000, 2000])
        expect(lines[2]!.comparedWithRows).toBe(1000)
        expect(lines.map(withoutCpu).every(positiveNumbers), r.stdout).toBe(true)
        expect(lines.slice(0, 2).every(cpuFieldsSound), r.stdout).toBe(true)
      }),
    120_000
  )
})
