// What simulated seeds cost, one after another in one process (docs/testing.md, "Seeds per minute"):
//   npm run build && node --max-semi-space-size=64 --single-threaded-gc scripts/simcost.mjs --from 5000 --seeds 100
// prints, per seed, its trace hash, violations, scheduler tasks, Effect operations and CPU seconds
// (process.cpuUsage, user + system), then the averages, for light and full plans apart. The seed before
// `--from` runs first, uncounted, to warm the process up. CPU seconds follow the machine's load; tasks and
// operations do not (the same seed runs the same ones on every run).
import { simulate } from "../dist/simulation/Simulator.js"

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const from = arg("--from", 5000)
const seeds = arg("--seeds", 100)

await simulate(from - 1)
const sums = { all: [0, 0, 0, 0], light: [0, 0, 0, 0], full: [0, 0, 0, 0] }
for (let seed = from; seed < from + seeds; seed++) {
  const before = process.cpuUsage()
  const outcome = await simulate(seed)
  const used = process.cpuUsage(before)
  const cpu = (used.user + used.system) / 1e6
  const size = outcome.covered.includes("light plan") ? "light" : "full"
  for (const key of ["all", size]) {
    const s = sums[key]
    s[0]++
    s[1] += cpu
    s[2] += outcome.operations
    s[3] += outcome.tasks
  }
  console.log(
    `${seed} ${size} ${outcome.hash.slice(0, 12)} violations=${outcome.violations.length} tasks=${outcome.tasks} operations=${outcome.operations} cpu=${cpu.toFixed(3)}`
  )
}
for (const [key, [n, cpu, operations, tasks]] of Object.entries(sums))
  if (n > 0)
    console.log(
      `${key}: ${n} seeds, ${(cpu / n).toFixed(3)} CPU-s, ${Math.round(operations / n)} operations, ${Math.round(tasks / n)} tasks a seed`
    )
