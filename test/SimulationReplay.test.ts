import { describe, expect, it } from "@effect/vitest"
import { simulate } from "../src/simulation/Simulator.js"

describe("deterministic simulation", () => {
  it("the same seed twice gives the same trace, byte for byte", { timeout: 120_000 }, async () => {
    // Seeds with crashes, faults and several devices, so that scheduling and chance both matter.
    for (const seed of [4, 10]) {
      const first = await simulate(seed)
      const second = await simulate(seed)
      expect(first.trace.length).toBeGreaterThan(20)
      expect(first.covered.some((c) => c.startsWith("crash"))).toBe(true)
      expect(second.trace).toEqual(first.trace)
      expect(second.hash).toBe(first.hash)
      expect(first.violations).toEqual([])
    }
  })

  it("different seeds give different traces", { timeout: 60_000 }, async () => {
    const a = await simulate(7)
    const b = await simulate(8)
    expect(a.hash).not.toBe(b.hash)
  })
})
