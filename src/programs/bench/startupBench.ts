// Start-up of the daemon and of CLI commands, next to an empty `node` measured in the same run: each is
// started `runs` times one after another and the median wall time is reported, and the median CPU time
// (user + system, all threads) that the process used, which other load on the machine disturbs much less.
// The daemon counts until it prints its "Listening" line (its stores open, its port bound); a CLI command
// until its process exits.
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { cpuMs } from "./cpu.js"
import type { Report } from "./report.js"

const programs = join(dirname(fileURLToPath(import.meta.url)), "..")

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolve(port))
    })
  })

interface Sample {
  readonly ms: number
  readonly cpuMs: number | undefined
}

/**
 * Wall and CPU milliseconds from spawning `node args` until `until` appears in its output (then it is
 * stopped), or until it exits when `until` is undefined. Fails if it exits otherwise than expected. Runs
 * one at a time: the CPU time of an exiting command is what this process's children's total grew by.
 */
const timeOnce = (args: ReadonlyArray<string>, until?: string) =>
  new Promise<Sample>((resolve, reject) => {
    const began = performance.now()
    const childrenBefore = cpuMs("self", "children")
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] })
    let seen = ""
    let done = false
    const onData = (chunk: Buffer) => {
      seen += chunk.toString()
      if (until !== undefined && !done && seen.includes(until)) {
        done = true
        const ms = performance.now() - began
        const used = child.pid === undefined ? undefined : cpuMs(child.pid)
        child.once("exit", () => resolve({ ms, cpuMs: used }))
        child.kill("SIGTERM")
      }
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.once("exit", (code) => {
      if (done) return
      if (until === undefined && code === 0) {
        const ms = performance.now() - began
        const after = cpuMs("self", "children")
        resolve({ ms, cpuMs: after === undefined ? undefined : after - childrenBefore! })
      } else reject(new Error(`node ${args.join(" ")} exited ${code}: ${seen.slice(-500)}`))
    })
  })

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** Medians of `runs` starts: wall time, and CPU time (null without /proc). */
const timeMedian = async (runs: number, args: () => Promise<ReadonlyArray<string>>, until?: string) => {
  const samples: Array<Sample> = []
  for (let i = 0; i < runs; i++) samples.push(await timeOnce(await args(), until))
  const cpu = samples.map((s) => s.cpuMs)
  return {
    ms: median(samples.map((s) => s.ms)),
    cpuMs: cpu.every((c) => c !== undefined) ? median(cpu) : null
  }
}

export const run = (runs: number, report: Report) =>
  Effect.promise(async () => {
    const root = mkdtempSync(join(tmpdir(), "tidemark-bench-startup-"))
    try {
      const cli = join(programs, "cli.js")
      const dataDir = join(root, "device")
      await timeOnce([cli, "init", "--data-dir", dataDir, "--name", "bench"])
      const measured = {
        node: await timeMedian(runs, async () => ["-e", ""]),
        cliVersion: await timeMedian(runs, async () => [cli, "--version"]),
        cliHelp: await timeMedian(runs, async () => [cli, "--help"]),
        cliStatus: await timeMedian(runs, async () => [cli, "status", "--data-dir", dataDir, "--json"]),
        cliDump: await timeMedian(runs, async () => [cli, "dump", "--data-dir", dataDir]),
        daemon: await timeMedian(
          runs,
          async () => [
            join(programs, "daemon.js"),
            "--data-dir",
            dataDir,
            "--listen",
            `127.0.0.1:${await freePort()}`
          ],
          "Listening"
        )
      }
      const label = {
        node: 'empty node (node -e ""):',
        cliVersion: "tidemark --version:",
        cliHelp: "tidemark --help:",
        cliStatus: "tidemark status --json:",
        cliDump: "tidemark dump (an empty device):",
        daemon: 'daemon until "Listening":'
      }
      const f = (ms: number | null) => (ms === null ? "n/a" : `${ms.toFixed(0)} ms`)
      report.line(`startup: median of ${runs} starts each, one after another (target < 300 ms wall)`)
      report.line(`  ${"".padEnd(34)} ${"wall".padStart(8)} ${"CPU".padStart(8)}`)
      for (const [key, m] of Object.entries(measured)) {
        const name = label[key as keyof typeof label]
        report.line(`  ${name.padEnd(34)} ${f(m.ms).padStart(8)} ${f(m.cpuMs).padStart(8)}`)
      }
      const round = (ms: number | null) => (ms === null ? null : Math.round(ms))
      const figures = {
        runs,
        ...Object.fromEntries(Object.entries(measured).map(([k, m]) => [`${k}Ms`, round(m.ms)])),
        ...Object.fromEntries(Object.entries(measured).map(([k, m]) => [`${k}CpuMs`, round(m.cpuMs)]))
      }
      report.result(figures)
      return figures
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })
