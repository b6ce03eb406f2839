// A worker runs thousands of seeds in one process: a seed must leave nothing of its world behind. Effect's
// global fiber scope keeps every daemon fiber until it ends, and a run ends with fibers that never will (a
// crashed device's, stopped mid-statement), so the runtime lets go of those its run left (Runtime.run).
import { describe, expect, it } from "@effect/vitest"
import { GlobalValue } from "effect"
import { simulate } from "../src/simulation/Simulator.js"

const roots = () =>
  (GlobalValue.globalValue(Symbol.for("effect/FiberScope/Global"), () => ({})) as { roots: Set<unknown> })
    .roots

describe("simulated seeds in one process", () => {
  it("leave no fiber of theirs in Effect's global scope", { timeout: 120_000 }, async () => {
    const before = roots().size
    // Seeds 90000-90002: each ends with daemon fibers that never ended (about thirty a seed).
    for (const seed of [90000, 90001, 90002]) await simulate(seed)
    expect(roots().size).toBe(before)
  })
})
