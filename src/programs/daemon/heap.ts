// How far V8 lets the daemon's heap grow between full collections. By default V8 lets the old generation
// grow to several times what is live before it collects it. A backfill keeps each page alive across a few
// awaits, so its rows are promoted to the old generation and die there: the daemon's resident memory then
// grew with the stream's rate (about 320 MB while receiving 1M rows) although only about 50 MB is live.
// Growing the heap by at most half between full collections keeps the receiver near 200 MB at the same
// speed (docs/benchmarks.md). V8 reads this flag at every collection, so setting it while the daemon runs
// works; a value given on the node command line wins.
//
// The limit is set only once the heap has grown past FREE_GROWTH_MB: below that, V8's own growth costs no
// memory worth keeping, and the extra full collections the limit causes cost a short backfill (100k rows)
// about a tenth of its receiver's CPU (docs/benchmarks.md). A long one passes the mark early and is limited
// from there.
import { PerformanceObserver } from "node:perf_hooks"
import v8 from "node:v8"

export const HEAP_GROWING_PERCENT = 50
/** The heap size (V8's total, MB) from which its growth is limited. */
export const FREE_GROWTH_MB = 96

export interface HeapWatch {
  /** The heap's total size in bytes now. */
  readonly heapBytes: () => number
  /** Set V8 flags (v8.setFlagsFromString). */
  readonly setFlags: (flags: string) => void
  /** Call `check` after every garbage collection until the returned function stops it. */
  readonly afterEachGc: (check: () => void) => () => void
}

const afterEachGc = (check: () => void) => {
  const observer = new PerformanceObserver(() => check())
  observer.observe({ entryTypes: ["gc"] })
  return () => observer.disconnect()
}

const node: HeapWatch = {
  heapBytes: () => v8.getHeapStatistics().total_heap_size,
  setFlags: (flags) => v8.setFlagsFromString(flags),
  afterEachGc
}

/**
 * Limit the heap's growth once it passes `thresholdMb` (checked after each collection), unless the node
 * command line sets the growth itself.
 */
export const limitHeapGrowth = (
  execArgv: ReadonlyArray<string> = process.execArgv,
  thresholdMb: number = FREE_GROWTH_MB,
  watch: HeapWatch = node
) => {
  if (execArgv.some((a) => a.startsWith("--heap-growing-percent") || a.startsWith("--heap_growing_percent")))
    return
  let stop: (() => void) | undefined
  let limited = false
  const check = () => {
    if (limited || watch.heapBytes() < thresholdMb * 1024 * 1024) return
    limited = true
    watch.setFlags(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
    stop?.()
  }
  stop = watch.afterEachGc(check)
  check()
}
