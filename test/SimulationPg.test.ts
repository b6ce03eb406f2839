// Seeds in which one device is a hub on PostgreSQL (its stores in a schema of a throwaway server, reached
// through the simulator's crash gate), beside SQLite devices: the same oracle, and the same trace twice.
import { expect, it } from "@effect/vitest"
import { simulate } from "../src/simulation/Simulator.js"
import { describePostgres, serverForFile } from "./support/postgres.js"

/**
 * Seeds whose full plans cover crashes of the hub, late joiners, pruned logs and partitions between them (each
 * runs its full plan, whatever size it draws).
 */
const SEEDS = [0, 1, 2, 3, 4, 5]

describePostgres("simulated seeds with a hub on PostgreSQL", () => {
  const server = serverForFile()

  it("pass the oracle", { timeout: 600_000 }, async () => {
    const covered = new Set<string>()
    for (const seed of SEEDS) {
      const outcome = await simulate(seed, { postgres: server.url(), size: "full" })
      expect(outcome.covered).toContain("hub on postgres")
      expect(outcome.trace.some((line) => line.includes("on postgres"))).toBe(true)
      outcome.covered.forEach((c) => covered.add(c))
      expect({ seed, violations: outcome.violations }).toEqual({ seed, violations: [] })
    }
    console.log(`hub seeds ${SEEDS.join(", ")} covered: ${[...covered].sort().join(", ")}`)
    expect([...covered].some((c) => c.startsWith("crash"))).toBe(true)
  })

  it("give the same trace twice", { timeout: 300_000 }, async () => {
    const first = await simulate(1, { postgres: server.url(), size: "full" })
    const second = await simulate(1, { postgres: server.url(), size: "full" })
    expect(first.covered.some((c) => c.startsWith("crash"))).toBe(true)
    expect(second.trace).toEqual(first.trace)
    expect(second.hash).toBe(first.hash)
  })
})
