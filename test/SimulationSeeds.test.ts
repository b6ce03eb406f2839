// The simulator in CI: up to 1,000 seeds (TIDEMARK_SIM_SEEDS), from a start taken from the clock so that every
// run explores new schedules, on two worker processes, within a budget of TIDEMARK_SIM_BUDGET_SECONDS (150 s):
// no seed starts after it, so the suite stays within its time on two cores however fast seeds run today. The
// range that ran is printed with the command that reruns it; a failing seed prints its replay command. It runs
// with `--no-restores`: a backup taken while a device serves can still make a peer skip a row that moved after
// it (the known gap of docs/testing.md, seed 41166 in SimulationRegressions), about one seed in a few thousand,
// so a CI run would fail on a known bug now and then. Restores run in SimulationRestores, the regression seeds
// and any `npm run simulate` without the flag; the rest of each plan is the same either way.
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
        String(BUDGET_SECONDS),
        "--no-restores"
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
