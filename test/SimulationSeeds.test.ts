// The simulator in CI: up to 1,000 seeds (TIDEMARK_SIM_SEEDS), from a start taken from the clock so that every
// run explores new schedules, on two worker processes, within a budget of TIDEMARK_SIM_BUDGET_SECONDS (150 s):
// no seed starts after it, so the suite stays within its time on two cores however fast seeds run today. The
// range that ran is printed with the command that reruns it; a failing seed prints its replay command. Every
// fault kind runs, restored and replaced databases included.
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import { spawn } from "node:child_process"
import { join } from "node:path"

const SIMULATE = join(import.meta.dirname, "..", "dist", "programs", "simulate.js")
const SEEDS = Number(process.env.TIDEMARK_SIM_SEEDS ?? 1_000)
const BUDGET_SECONDS = Number(process.env.TIDEMARK_SIM_BUDGET_SECONDS ?? 150)

const runSimulator = (from: number) =>
  Effect.async<{ code: number | null; output: string }>((resume) => {
    const child = spawn(
      process.execPath,
      [
        SIMULATE,
        "--seeds",
        String(SEEDS),
        "--from",
        String(from),
        "--workers",
        "2",
        "--budget-seconds",
        String(BUDGET_SECONDS)
      ],
      { stdio: ["ignore", "pipe", "pipe"] }
    )
    let output = ""
    child.stdout.on("data", (chunk) => (output += String(chunk)))
    child.stderr.on("data", (chunk) => (output += String(chunk)))
    child.on("exit", (code) => resume(Effect.succeed({ code, output })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

describe("simulated seeds", () => {
  it.live(
    `up to ${SEEDS} seeds from a new start every run pass the oracle`,
    () =>
      Effect.gen(function* () {
        const from = (yield* Clock.currentTimeMillis) % 1_000_000_000
        console.log(
          `simulating up to ${SEEDS} seeds from ${from} (${BUDGET_SECONDS} s budget); rerun: npm run simulate -- --seeds ${SEEDS} --from ${from} --workers 2`
        )
        const { code, output } = yield* runSimulator(from)
        console.log(
          output
            .split("\n")
            .filter((l) => /seeds in|budget|covered|FAILED|replay|failed seed/.test(l))
            .join("\n")
        )
        expect(output).toMatch(/\n[1-9]\d* seeds in/)
        expect(code).toBe(0)
      }),
    { timeout: (BUDGET_SECONDS + 120) * 1_000 }
  )
})
