// `npm run bench [section] [--rows N] [--json]`: benchmarks that print their figures next to a baseline
// measured in the same run. Sections: store, backfill (`--rows N[,M…]`, `--no-baselines`, `--batch-size N`,
// `--peers 2`: also from two peers at once),
// catchup (`--rows N`, `--changed N`), live (`--writes N`, `--outside-writes N`), startup (`--runs N`). With `--json`, stdout holds one JSON line per result and everything else goes to stderr.
import { Effect } from "effect"
import * as BackfillBench from "./bench/backfillBench.js"
import * as CatchupBench from "./bench/catchupBench.js"
import * as LiveBench from "./bench/liveBench.js"
import * as Report from "./bench/report.js"
import * as StartupBench from "./bench/startupBench.js"
import * as StoreBench from "./bench/storeBench.js"
import * as SyncEngine from "../services/SyncEngine.js"

const args = process.argv.slice(2)
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(name)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const switches = new Set(["--json", "--no-baselines"])
const sections = args.filter(
  (a, i) =>
    !a.startsWith("--") &&
    !(args[i - 1] !== undefined && args[i - 1]!.startsWith("--") && !switches.has(args[i - 1]!))
)
const wanted = (s: string) => sections.length === 0 || sections.includes(s)
const json = args.includes("--json")
const report = Report.make(json)

const program = Effect.gen(function* () {
  if (wanted("startup")) yield* StartupBench.run(flag("--runs", 10), report)
  if (wanted("store")) yield* StoreBench.run(flag("--rows", 1_000_000), report)
  if (wanted("live")) {
    yield* LiveBench.run(
      { writes: flag("--writes", 1_000), outsideWrites: flag("--outside-writes", 100) },
      report
    )
  }
  if (wanted("backfill")) {
    const i = args.indexOf("--rows")
    const sizes = i >= 0 ? (args[i + 1] ?? "").split(",").map(Number) : [100_000, 1_000_000]
    if (sizes.some((n) => !Number.isInteger(n) || n <= 0)) {
      return yield* Effect.die(new Error(`--rows takes sizes like 1000000 or 1000000,10000000`))
    }
    yield* BackfillBench.run(
      sizes,
      {
        batchSize: flag("--batch-size", SyncEngine.defaultEngineOptions.batchSize),
        baselines: !args.includes("--no-baselines"),
        peers: flag("--peers", 1)
      },
      report
    )
  }
  if (wanted("catchup")) {
    const rows = flag("--rows", 1_000_000)
    yield* CatchupBench.run(
      { rows, changed: flag("--changed", Math.max(1, Math.round(rows / 1000))) },
      report
    )
  }
}).pipe(Effect.provide(Report.loggerFor(json)))

Effect.runPromise(program).catch((e) => {
  console.error(e)
  process.exit(1)
})
