import { describe, expect, it } from "@effect/vitest"
import { simulate } from "../src/simulation/Simulator.js"
import type { Variant } from "../src/simulation/Variant.js"
import { brokenVariants } from "./support/brokenVariants.js"

/**
 * Scheduler tasks after which a variant's run is stopped as a livelock. A broken variant can keep devices
 * exchanging forever (variant (d) does on several seeds before its first catch); a seed of the product takes a
 * few thousand tasks, so a livelock is cut here at a tenth of the runner's bound instead of costing about 45
 * CPU-seconds. Such a seed is not counted as caught: only the violation meant for the variant counts.
 */
const VARIANT_MAX_TASKS = 50_000

/** The first seed from 0 on whose run the oracle rejects (with a violation `expected` accepts), within `limit` seeds. */
const firstCaught = async (variant: Variant, limit: number, expected: (violation: string) => boolean) => {
  for (let seed = 0; seed < limit; seed++) {
    const outcome = await simulate(seed, { variant, maxTasks: VARIANT_MAX_TASKS })
    if (outcome.violations.some(expected)) return { seed, violations: outcome.violations.filter(expected) }
  }
  return undefined
}

/**
 * A violation of the run itself, not of the silent corruption at its end: a variant that breaks how pages are
 * applied can also break the repair of the corrupted row (a `~corrupt` value left behind), which would catch
 * it at seed 0 without showing that the check meant for its bug works.
 */
const ofTheRun = (v: string) => !v.includes("~corrupt") && !/^(verify|repair) /.test(v)

/** Devices that differ at the end, or a row lost or older than an acknowledged write. */
const diverged = /differs from|is lost|older than the acknowledged/

/**
 * The bug classes shown caught, each with the violation it must be caught by: the check meant for it, so that
 * this test fails when that check does. (a) breaks only the check of rows received again after a crash (more
 * than two pages per stream).
 */
const shown: ReadonlyArray<readonly [string, Variant, (violation: string) => boolean]> = [
  ["a", brokenVariants.a, (v) => v.includes("again after its crash")],
  ["b", brokenVariants.b, (v) => v.includes("but no checkpoint was saved with it")],
  ["c", brokenVariants.c, (v) => ofTheRun(v) && diverged.test(v)],
  ["d", brokenVariants.d, (v) => v.includes(" went back from ")],
  ["e", brokenVariants.e, (v) => v.includes("but no checkpoint was saved with it")],
  ["f", brokenVariants.f, (v) => v.includes("is ahead of its data")],
  ["g", brokenVariants.g, (v) => ofTheRun(v) && diverged.test(v)]
]

describe("the simulator catches known bug classes", () => {
  for (const [letter, variant, expected] of shown) {
    it(`(${letter}) ${variant.name}: caught within the first 1,000 seeds`, { timeout: 900_000 }, async () => {
      const caught = await firstCaught(variant, 1_000, expected)
      console.log(
        `(${letter}) ${variant.name}: first caught by seed ${caught?.seed}: ${caught?.violations[0]}`
      )
      expect(caught).toBeDefined()
      // The same seed on the product as it is passes: the variant's bug is what the oracle caught.
      expect((await simulate(caught!.seed)).violations).toEqual([])
    })
  }
})
