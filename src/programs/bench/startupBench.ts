// Start-up of the daemon and of CLI commands, next to an empty `node` measured in the same run: each is
// started `runs` times one after another and the median wall time is reported. The daemon counts until it
// prints its "Listening" line (its stores open, its port bound); a CLI command until its process exits.
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
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

/**
 * Milliseconds from spawning `node args` until `until` appears in its output (then it is stopped), or until
 * it exits when `until` is undefined. Fails if it exits otherwise than expected.
 */
const timeOnce = (args: ReadonlyArray<string>, until?: string) =>
  new Promise<number>((resolve, reject) => {
    const began = performance.now()
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] })
    let seen = ""
    let done = false
    const onData = (chunk: Buffer) => {
      seen += chunk.toString()
      if (until !== undefined && !done && seen.includes(until)) {
        done = true
        const ms = performance.now() - began
        child.once("exit", () => resolve(ms))
        child.kill("SIGTERM")
      }
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.once("exit", (code) => {
      if (done) return
      if (until === undefined && code === 0) resolve(performance.now() - began)
      else reject(new Error(`node ${args.join(" ")} exited ${code}: ${seen.slice(-500)}`))
    })
  })

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const timeMedian = async (runs: number, args: () => Promise<ReadonlyArray<string>>, until?: string) => {
  const samples: Array<number> = []
  for (let i = 0; i < runs; i++) samples.push(await timeOnce(await args(), until))
  return median(samples)
}

export const run = (runs: number, report: Report) =>
  Effect.promise(async () => {
    const root = mkdtempSync(join(tmpdir(), "tidemark-bench-startup-"))
    try {
      const cli = join(programs, "cli.js")
      const dataDir = join(root, "device")
      await timeOnce([cli, "init", "--data-dir", dataDir, "--name", "bench"])
      const figures = {
        nodeMs: await timeMedian(runs, async () => ["-e", ""]),
        cliVersionMs: await timeMedian(runs, async () => [cli, "--version"]),
        cliStatusMs: await timeMedian(runs, async () => [cli, "status", "--data-dir", dataDir, "--json"]),
        cliDumpMs: await timeMedian(runs, async () => [cli, "dump", "--data-dir", dataDir]),
        daemonMs: await timeMedian(
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
      const f = (ms: number) => `${ms.toFixed(0)} ms`
      report.line(`startup: median of ${runs} starts each, one after another (target < 300 ms)`)
      report.line(`  empty node (node -e ""):              ${f(figures.nodeMs)}`)
      report.line(`  tidemark --version:                   ${f(figures.cliVersionMs)}`)
      report.line(`  tidemark status --json:               ${f(figures.cliStatusMs)}`)
      report.line(`  tidemark dump (an empty device):      ${f(figures.cliDumpMs)}`)
      report.line(`  daemon until "Listening":             ${f(figures.daemonMs)}`)
      const rounded = Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, Math.round(v)]))
      report.result({ runs, ...rounded })
      return figures
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })
