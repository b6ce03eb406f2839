// The simulator in CI: 100 seeds (TIDEMARK_SIM_SEEDS=1000 for the thousand the issue asks for, about 25 CPU
// minutes today) from a start taken from the clock, so every run explores new schedules; the range is
// printed, and a failing seed prints its replay command.
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import { spawn } from "node:child_process"
import { join } from "node:path"

const SIMULATE = join(import.meta.dirname, "..", "dist", "programs", "simulate.js")
const SEEDS = Number(process.env.TIDEMARK_SIM_SEEDS ?? 100)

const runSimulator = (from: number) =>
  Effect.async<{ code: number | null; output: string }>((resume) => {
    const child = spawn(
      process.execPath,
      [SIMULATE, "--seeds", String(SEEDS), "--from", String(from), "--workers", "2"],
      {
        stdio: ["ignore", "pipe", "pipe"]
      }
    )
    let output = ""
    child.stdout.on("data", (chunk) => (output += String(chunk)))
    child.stderr.on("data", (chunk) => (output += String(chunk)))
    child.on("exit", (code) => resume(Effect.succeed({ code, output })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

describe("simulated seeds", () => {
  it.live(
    `${SEEDS} seeds from a new start every run pass the oracle`,
    () =>
      Effect.gen(function* () {
        const from = (yield* Clock.currentTimeMillis) % 1_000_000_000
        console.log(`simulating seeds ${from}..${from + SEEDS - 1}`)
        const { code, output } = yield* runSimulator(from)
        console.log(
          output
            .split("\n")
            .filter((l) => /seeds in|covered|FAILED|replay|failed seed/.test(l))
            .join("\n")
        )
        expect(output).toContain(`${SEEDS} seeds in`)
        expect(code).toBe(0)
      }),
    { timeout: 1_800_000 }
  )
})
