// Devices whose databases are restored from a backup or replaced by new empty ones, in the simulator: the
// swaps happen, the product passes them, a run with them is deterministic, the seeds kept for earlier
// failures draw none, and an engine blind to a peer's new or older database is caught.
import { describe, expect, it } from "@effect/vitest"
import * as Plan from "../src/simulation/Plan.js"
import { simulate } from "../src/simulation/Simulator.js"
import { brokenVariants } from "./support/brokenVariants.js"

/** A seed's backups, restores and replacements, on its full plan (the one the seeds named here were chosen on). */
const swaps = (seed: number) =>
  Plan.make(seed, { size: "full" }).actions.filter(
    (a) => a._tag === "Backup" || a._tag === "Restore" || a._tag === "Replace"
  )

describe("restored and replaced databases", () => {
  it("a plan without restores is the same plan less its backups and restores, replacements kept", () => {
    const withRestores = Array.from({ length: 200 }, (_, seed) => Plan.make(seed))
    expect(withRestores.some((p) => p.actions.some((a) => a._tag === "Restore"))).toBe(true)
    expect(withRestores.some((p) => p.actions.some((a) => a._tag === "Replace"))).toBe(true)
    for (const plan of withRestores) {
      const without = Plan.make(plan.seed, { restores: false })
      expect(without).toEqual({
        ...plan,
        actions: plan.actions.filter((a) => a._tag !== "Backup" && a._tag !== "Restore")
      })
    }
  })

  it(
    "seed 96 backs up, replaces and restores, loses only writes no other device held, and passes twice alike",
    { timeout: 120_000 },
    async () => {
      const first = await simulate(96, { size: "full" })
      expect(first.covered).toEqual(
        expect.arrayContaining(["backup", "restore from a backup", "databases replaced"])
      )
      // The replacement took writes no other device had pulled yet: the oracle holds them in doubt.
      expect(first.trace.some((line) => line.includes("in doubt now"))).toBe(true)
      expect(first.violations).toEqual([])
      const second = await simulate(96, { size: "full" })
      expect(second.hash).toBe(first.hash)
    }
  )

  it(
    "an engine that never notices a peer's new or older database is caught (seed 19)",
    { timeout: 120_000 },
    async () => {
      // Seed 19 is where BrokenVariants first catches (g) now; it was 54 until live pulls began to hold back
      // the asking peer's own rows, which moved that seed's run.
      const broken = await simulate(19, { variant: brokenVariants.g })
      expect(broken.violations.some((v) => v.includes("differs from"))).toBe(true)
      expect((await simulate(19)).violations).toEqual([])
    }
  )

  it("swaps come from a generator of their own: the seeds kept for earlier failures draw none", () => {
    for (const seed of [2, 3, 8, 48, 234853589, 234853613, 301780]) expect(swaps(seed)).toEqual([])
    expect(swaps(96).map((a) => a._tag)).toEqual(expect.arrayContaining(["Backup", "Restore", "Replace"]))
  })
})
