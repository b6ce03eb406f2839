// How far V8 lets the daemon's heap grow between full collections. By default V8 lets the old generation
// grow to several times what is live before it collects it. A backfill keeps each page alive across a few
// awaits, so its rows are promoted to the old generation and die there: the daemon's resident memory then
// grew with the stream's rate (about 320 MB while receiving 1M rows) although only about 50 MB is live.
// Growing the heap by at most half between full collections keeps the receiver near 200 MB at the same
// speed (docs/benchmarks.md). V8 reads this flag at every collection, so setting it at start-up works; a
// value given on the node command line wins.
import v8 from "node:v8"

export const HEAP_GROWING_PERCENT = 50

export const limitHeapGrowth = (execArgv: ReadonlyArray<string> = process.execArgv) => {
  if (execArgv.some((a) => a.startsWith("--heap-growing-percent") || a.startsWith("--heap_growing_percent")))
    return
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
}
