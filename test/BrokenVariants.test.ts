import { describe, expect, it } from "@effect/vitest"
import { simulate } from "../src/simulation/Simulator.js"
import type { Variant } from "../src/simulation/Variant.js"
import { brokenVariants } from "./support/brokenVariants.js"

/** The first seed from 0 on whose run the oracle rejects, within `limit` seeds. */
const firstCaught = async (variant: Variant, limit: number) => {
  for (let seed = 0; seed < limit; seed++) {
    const outcome = await simulate(seed, { variant })
    if (outcome.violations.length > 0) return { seed, violations: outcome.violations }
  }
  return undefined
}

/** The bug classes shown caught so far. */
const shown = { a: brokenVariants.a, b: brokenVariants.b, c: brokenVariants.c, d: brokenVariants.d }

describe("the simulator catches known bug classes", () => {
  for (const [letter, variant] of Object.entries(shown)) {
    it(`(${letter}) ${variant.name}: caught within the first 1,000 seeds`, { timeout: 600_000 }, async () => {
      const caught = await firstCaught(variant, 1_000)
      console.log(
        `(${letter}) ${variant.name}: first caught by seed ${caught?.seed}: ${caught?.violations[0]}`
      )
      expect(caught).toBeDefined()
      // The same seed on the product as it is passes: the variant's bug is what the oracle caught.
      expect((await simulate(caught!.seed)).violations).toEqual([])
    })
  }
})
