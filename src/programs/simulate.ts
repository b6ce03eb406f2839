// `npm run simulate -- --seeds N [--from S] [--workers W] [--budget-seconds B] [--trace] [--postgres URL]
// [--no-restores] [--size full|light]`:
// run N seeded simulations from seed S (default: a seed taken from the time, printed) on W worker processes,
// print seeds per minute, the fault kinds covered and, for a failing seed, the one command that replays it
// and its readable trace. With a budget, no seed starts after B seconds: the seeds that ran are S.. onwards,
// printed. With `--postgres`, device 0 of each seed keeps its stores on that server, as a hub. With
// `--no-restores`, plans draw no backups and restores of a device's databases; with `--size`, every plan has
// that size instead of the one its seed draws (Plan.PlanOptions).
import { fork } from "node:child_process"
import { availableParallelism } from "node:os"
import { fileURLToPath } from "node:url"
import type { Size } from "../simulation/Plan.js"
import { simulate, type Outcome } from "../simulation/Simulator.js"

interface Args {
  readonly seeds: number
  readonly from: number
  readonly workers: number
  readonly trace: boolean
  readonly postgres: string | undefined
  readonly restores: boolean
  /** Every plan's size (none: each seed's own). */
  readonly size: Size | undefined
  /** Start no seed after this many seconds (none: run them all). */
  readonly budgetSeconds: number | undefined
}

const size = (raw: string | undefined): Size | undefined => {
  if (raw === undefined || raw === "full" || raw === "light") return raw
  console.error(`--size needs full or light, got ${raw}`)
  process.exit(2)
}

const parse = (argv: ReadonlyArray<string>): Args => {
  const value = (name: string) => {
    const i = argv.indexOf(name)
    return i >= 0 ? argv[i + 1] : undefined
  }
  const int = (name: string, fallback: number) => {
    const raw = value(name)
    if (raw === undefined) return fallback
    const n = Number(raw)
    if (!Number.isSafeInteger(n) || n < 0) {
      console.error(`${name} needs a whole number, got ${raw}`)
      process.exit(2)
    }
    return n
  }
  return {
    seeds: int("--seeds", 100),
    from: int("--from", Date.now() % 1_000_000_000),
    workers: Math.max(1, int("--workers", availableParallelism())),
    trace: argv.includes("--trace"),
    postgres: value("--postgres"),
    restores: !argv.includes("--no-restores"),
    size: size(value("--size")),
    budgetSeconds: value("--budget-seconds") === undefined ? undefined : int("--budget-seconds", 0)
  }
}

/**
 * V8 flags for the workers. A seed allocates far more short-lived objects than survive (Effect's fibers and
 * operations): a larger young generation collects them less often, and one GC thread per worker spends less
 * CPU than helper threads contending for the two cores that two workers already keep busy (seeds 1000–1019 in
 * one process: 19.7 CPU-s without these, 17.8 with, averages of three runs on a loaded machine).
 */
const WORKER_FLAGS = ["--max-semi-space-size=64", "--single-threaded-gc"]

/** What a worker reports of one seed. */
interface Report {
  readonly seed: number
  readonly hash: string
  readonly violations: ReadonlyArray<string>
  readonly trace?: ReadonlyArray<string>
  readonly covered: ReadonlyArray<string>
  readonly millis: number
}

const report = (o: Outcome, millis: number, withTrace: boolean): Report => ({
  seed: o.seed,
  hash: o.hash,
  violations: o.violations,
  covered: o.covered,
  millis,
  ...(withTrace || o.violations.length > 0 ? { trace: o.trace } : {})
})

/** A worker: runs the seeds it is sent, one at a time, and reports each. */
const worker = () => {
  process.on("disconnect", () => process.exit(0))
  type Message = { seed: number; trace: boolean; restores: boolean; size?: Size; postgres?: string }
  process.on("message", async (message: Message | "exit") => {
    if (message === "exit") process.exit(0)
    const started = performance.now()
    const outcome = await simulate(message.seed, {
      restores: message.restores,
      ...(message.size === undefined ? {} : { size: message.size }),
      ...(message.postgres === undefined ? {} : { postgres: message.postgres })
    })
    process.send!(report(outcome, performance.now() - started, message.trace))
  })
}

/** The flags that change what a seed runs, to repeat in a command that reruns it. */
const planFlags = (args: Args) =>
  `${args.restores ? "" : " --no-restores"}${args.size === undefined ? "" : ` --size ${args.size}`}`

const replayCommand = (seed: number, args: Args) =>
  `npm run simulate -- --seeds 1 --from ${seed} --trace${planFlags(args)}${args.postgres === undefined ? "" : ` --postgres ${args.postgres}`}`

const main = async () => {
  const args = parse(process.argv.slice(2))
  console.log(`Simulating seeds ${args.from}..${args.from + args.seeds - 1} on ${args.workers} worker(s)`)
  const started = performance.now()
  const failures: Array<Report> = []
  const covered = new Map<string, number>()
  let done = 0
  let next = args.from
  const end = args.from + args.seeds
  const self = fileURLToPath(import.meta.url)
  await Promise.all(
    Array.from(
      { length: Math.min(args.workers, args.seeds) },
      () =>
        new Promise<void>((resolve) => {
          const child = fork(self, ["--worker"], {
            stdio: "inherit",
            execArgv: [...process.execArgv, ...WORKER_FLAGS]
          })
          const sendNext = () => {
            const overBudget =
              args.budgetSeconds !== undefined && performance.now() - started > args.budgetSeconds * 1_000
            if (next >= end || overBudget) {
              child.send("exit")
              return
            }
            child.send({
              seed: next++,
              trace: args.trace,
              restores: args.restores,
              ...(args.size === undefined ? {} : { size: args.size }),
              ...(args.postgres === undefined ? {} : { postgres: args.postgres })
            })
          }
          child.on("message", (r: Report) => {
            done++
            for (const c of r.covered) covered.set(c, (covered.get(c) ?? 0) + 1)
            if (args.trace || r.violations.length > 0) {
              console.log(`\nseed ${r.seed} trace (hash ${r.hash}):\n${(r.trace ?? []).join("\n")}`)
            }
            if (r.violations.length > 0) {
              failures.push(r)
              console.log(
                `\nseed ${r.seed} FAILED:\n  ${r.violations.join("\n  ")}\nreplay: ${replayCommand(r.seed, args)}`
              )
            } else if (args.seeds <= 20) {
              console.log(`seed ${r.seed} ok, trace hash ${r.hash} (${Math.round(r.millis)} ms)`)
            }
            if (done % 500 === 0) console.log(`${done} seeds, ${failures.length} failed`)
            sendNext()
          })
          child.on("exit", () => resolve())
          sendNext()
        })
    )
  )
  const minutes = (performance.now() - started) / 60_000
  if (done < args.seeds)
    console.log(
      `\nthe budget of ${args.budgetSeconds} s ran out: seeds ${args.from}..${next - 1} ran (rerun them: npm run simulate -- --seeds ${done} --from ${args.from}${planFlags(args)})`
    )
  console.log(
    `\n${done} seeds in ${minutes.toFixed(2)} min (${Math.round(done / minutes)} seeds/min), ${failures.length} failed`
  )
  console.log(
    `fault kinds covered (seeds): ${[...covered.entries()]
      .sort()
      .map(([k, n]) => `${k} ${n}`)
      .join(", ")}`
  )
  for (const f of failures) console.log(`failed seed ${f.seed}: ${replayCommand(f.seed, args)}`)
  process.exit(failures.length > 0 ? 1 : 0)
}

if (process.argv.includes("--worker")) worker()
else void main()
