// `npm run bench [section] [--rows N] [--json]`: benchmarks that print their figures next to a baseline
// measured in the same run. Sections: store, backfill, live (`--writes N`, `--outside-writes N`), startup
// (`--runs N`). With `--json`, stdout holds one JSON line per result and everything else goes to stderr.
import { Effect } from "effect"
import * as BackfillBench from "./bench/backfillBench.js"
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
const switches = new Set(["--json"])
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
    const rows = flag("--rows", 0)
    yield* BackfillBench.run(
      rows > 0 ? [rows] : [100_000, 1_000_000],
      flag("--batch-size", SyncEngine.defaultEngineOptions.batchSize),
      report
    )
  }
}).pipe(Effect.provide(Report.loggerFor(json)))

Effect.runPromise(program).catch((e) => {
  console.error(e)
  process.exit(1)
})
