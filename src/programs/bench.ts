// `npm run bench [section] [--rows N]`: benchmarks that print their figures next to a baseline measured in
// the same run. Sections: store, backfill, live (`--writes N`, `--outside-writes N`).
import { Effect } from "effect"
import * as BackfillBench from "./bench/backfillBench.js"
import * as LiveBench from "./bench/liveBench.js"
import * as StoreBench from "./bench/storeBench.js"
import * as SyncEngine from "../services/SyncEngine.js"

const args = process.argv.slice(2)
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(name)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const sections = args.filter((a, i) => !a.startsWith("--") && !(args[i - 1] ?? "").startsWith("--"))
const wanted = (s: string) => sections.length === 0 || sections.includes(s)

const program = Effect.gen(function* () {
  if (wanted("store")) yield* StoreBench.run(flag("--rows", 1_000_000))
  if (wanted("live")) {
    yield* LiveBench.run({ writes: flag("--writes", 1_000), outsideWrites: flag("--outside-writes", 100) })
  }
  if (wanted("backfill")) {
    const rows = flag("--rows", 0)
    yield* BackfillBench.run(
      rows > 0 ? [rows] : [100_000, 1_000_000],
      flag("--batch-size", SyncEngine.defaultEngineOptions.batchSize)
    )
  }
})

Effect.runPromise(program).catch((e) => {
  console.error(e)
  process.exit(1)
})
