// The sizes of the simulator's plans: most seeds draw a light plan (few devices, few actions, a short chaos), a
// share draws a full one, and a full plan is drawn exactly as every plan was before light ones existed.
import { describe, expect, it } from "@effect/vitest"
import * as Plan from "../src/simulation/Plan.js"
import { simulate } from "../src/simulation/Simulator.js"

const seeds = Array.from({ length: 1_000 }, (_, seed) => seed)

/** The actions a plan draws step by step (without the joiners' crashes and backlogs, nor the swaps). */
const stepBound = (plan: Plan.Plan) => (plan.size === "light" ? 30 : 60)

describe("plan sizes", () => {
  it("about one seed in five draws a full plan, from a generator of its own", () => {
    const full = seeds.filter((seed) => Plan.sizeOf(seed) === "full").length
    expect(full).toBeGreaterThan(150)
    expect(full).toBeLessThan(250)
    for (const seed of seeds) expect(Plan.make(seed).size).toBe(Plan.sizeOf(seed))
  })

  it("a light plan has 2-4 devices, at most 30 drawn actions and a chaos of at most 1.5 s", () => {
    const light = seeds.map((seed) => Plan.make(seed, { size: "light" }))
    for (const plan of light) {
      expect(plan.devices.length).toBeGreaterThanOrEqual(2)
      expect(plan.devices.length).toBeLessThanOrEqual(4)
      expect(plan.chaosMillis).toBeLessThanOrEqual(1_500)
      const drawn = plan.actions.filter(
        (a) => a._tag !== "Backup" && a._tag !== "Restore" && a._tag !== "Replace"
      )
      // Each of up to 3 joiners adds a backlog (up to 3 writers x 2 kinds x its slots) and an armed crash.
      expect(drawn.length).toBeLessThanOrEqual(stepBound(plan) + 3 * (3 * 2 * Plan.LIGHT_BACKLOG_SLOTS + 1))
    }
    expect(light.filter((p) => p.devices.length === 2).length).toBeGreaterThan(500)
    expect(light.some((p) => p.devices.length === 4)).toBe(true)
    // Late joiners (most of them with a crash armed for their first backfill) meet a backlog of both owned
    // kinds.
    const joiners = light.flatMap((p) => p.devices.filter((d) => d.joinAt >= 2).map((d) => ({ p, d })))
    expect(joiners.length).toBeGreaterThan(300)
    for (const { p, d } of joiners) {
      const backlog = p.actions.filter((a) => a._tag === "Write" && a.at < d.joinAt - 1 && a.device === 0)
      const kinds = backlog.map((a) => (a._tag === "Write" ? a.kind : ""))
      expect(kinds).toEqual(expect.arrayContaining(["note", "file"]))
      // More rows of each kind than two pages of the largest size hold.
      for (const kind of ["note", "file"])
        expect(
          new Set(
            backlog
              .filter((a) => a._tag === "Write" && a.kind === kind)
              .map((a) => a._tag === "Write" && a.slot)
          ).size
        ).toBeGreaterThan(2 * 4)
    }
    expect(light.some((p) => p.actions.some((a) => a._tag === "Replace"))).toBe(true)
  })

  it("a full plan keeps the big libraries: up to 8 devices over up to 3 s", () => {
    const full = seeds.map((seed) => Plan.make(seed, { size: "full" }))
    expect(full.some((p) => p.devices.length === 8)).toBe(true)
    expect(full.some((p) => p.chaosMillis > 2_500)).toBe(true)
  })

  it(
    "a full plan runs as every plan did before light ones: the trace hashes recorded then",
    { timeout: 120_000 },
    async () => {
      // Seed 10 draws a full plan; seed 1001 a light one, run here as full. Hashes taken on the commit before
      // plans had sizes (eb8614f); a change of the product that changes these runs records them again: they
      // were recorded again with openings (each serving start draws an id from Random and vouches in SQL), and
      // again when a session's exchange began to read the client's checkpoints (`resumes`), again when a
      // page began to carry its table's end (`Page.end`, a statement more for a page cut short), again when a
      // live pull began to hold back the asking peer's own rows and sent counters began to wait a second, and
      // again when the simulator began to build a device's Layers one after another and open new databases
      // from an image (SimLayer, SimOpen) and the memory transport to run a request on one fiber, and again
      // when a client began to read what a peer showed it (`seen`) only when it names the peer's opening,
      // and again (seed 10) when a pull stream's round began to fetch its page ahead on a fiber it joins
      // instead of through a Stream's hand-off buffer (fewer tasks, so another order of them), and again when
      // a new device began to split a kind's backfill over several peers (a sync.db read of recorded ranges
      // per kind, a kind decided once every configured peer asks for it), and again (seed 10) when a shared
      // kind's log began to be pulled by a plain loop instead of a Stream (fewer tasks).
      const recorded: ReadonlyArray<readonly [number, string]> = [
        [10, "9128749f11d76bf3323b7e2c9471e4b85d5fea6a228e824a00c67da9bf066fd9"],
        [1001, "d0cc26d05e7988f56032f422e829991b4de36b16e19c50985f6ad06fee6a500b"]
      ]
      expect(Plan.sizeOf(10)).toBe("full")
      expect(Plan.sizeOf(1001)).toBe("light")
      for (const [seed, hash] of recorded) expect((await simulate(seed, { size: "full" })).hash).toBe(hash)
    }
  )
})
