// The daemon's heap growth limit (src/programs/daemon/heap.ts): set only once the heap has grown past its
// mark, so a short backfill runs with V8's own growth, and never against a growth given on the command line.
import { describe, expect, it } from "@effect/vitest"
import {
  FREE_GROWTH_MB,
  HEAP_GROWING_PERCENT,
  type HeapWatch,
  limitHeapGrowth
} from "../src/programs/daemon/heap.js"

const MB = 1024 * 1024

/** A heap whose size the test sets, and the collections it reports when the test says so. */
const fakeHeap = (mb: number) => {
  const state = { bytes: mb * MB, flags: [] as Array<string>, checks: [] as Array<() => void>, stopped: 0 }
  const watch: HeapWatch = {
    heapBytes: () => state.bytes,
    setFlags: (flags) => state.flags.push(flags),
    afterEachGc: (check) => {
      state.checks.push(check)
      return () => {
        state.stopped++
      }
    }
  }
  const collect = () => state.checks.forEach((check) => check())
  return { state, watch, collect }
}

describe("daemon heap growth", () => {
  it("limits the growth only once the heap has passed its mark, and then once", () => {
    const heap = fakeHeap(40)
    limitHeapGrowth([], FREE_GROWTH_MB, heap.watch)
    heap.collect()
    heap.state.bytes = (FREE_GROWTH_MB - 1) * MB
    heap.collect()
    expect(heap.state.flags).toEqual([])
    heap.state.bytes = (FREE_GROWTH_MB + 1) * MB
    heap.collect()
    heap.collect()
    expect(heap.state.flags).toEqual([`--heap-growing-percent=${HEAP_GROWING_PERCENT}`])
    expect(heap.state.stopped).toBe(1)
  })

  it("limits at once a heap that is already past its mark", () => {
    const heap = fakeHeap(FREE_GROWTH_MB * 2)
    limitHeapGrowth([], FREE_GROWTH_MB, heap.watch)
    expect(heap.state.flags).toEqual([`--heap-growing-percent=${HEAP_GROWING_PERCENT}`])
  })

  it("leaves a growth given on the node command line alone", () => {
    const heap = fakeHeap(FREE_GROWTH_MB * 2)
    limitHeapGrowth(["--heap-growing-percent=0"], FREE_GROWTH_MB, heap.watch)
    heap.collect()
    expect(heap.state.flags).toEqual([])
    expect(heap.state.checks).toEqual([])
  })
})
