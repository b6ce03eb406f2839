import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc, Schema } from "effect"
import * as Hlc from "../src/domain/Hlc.js"
import { DeviceId } from "../src/domain/Ids.js"

const deviceArb = fc.uuid({ version: 4 }).map((u) => DeviceId.make(u.toLowerCase()))
const hlcArb = fc
  .record({
    wall: fc.integer({ min: 0, max: Hlc.MAX_WALL - 1 }),
    counter: fc.integer({ min: 0, max: Hlc.MAX_COUNTER }),
    device: deviceArb
  })
  .map((h) => Hlc.make(h.wall, h.counter, h.device))
const DRIFT = 5 * 60_000

/** HLC strings of two devices (so device parts repeat), some with one character changed, dropped or added. */
const nearHlcStringsArb = fc.array(
  fc
    .record({
      wall: fc.integer({ min: 0, max: Hlc.MAX_WALL - 1 }),
      counter: fc.integer({ min: 0, max: Hlc.MAX_COUNTER }),
      device: fc.constantFrom("aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-00000000000b"),
      at: fc.nat({ max: 60 }),
      change: fc.constantFrom("none", "replace", "drop", "add"),
      char: fc.constantFrom("0", "f", "a", "g", "A", "-", ".", " ")
    })
    .map(({ wall, counter, device, at, change, char }) => {
      const s = Hlc.format(Hlc.make(wall, counter, DeviceId.make(device)))
      const i = Math.min(at, s.length)
      if (change === "replace") return s.slice(0, i) + char + s.slice(i + 1)
      if (change === "drop") return s.slice(0, i) + s.slice(i + 1)
      if (change === "add") return s.slice(0, i) + char + s.slice(i)
      return s
    }),
  { maxLength: 30 }
)

describe("Hlc", () => {
  it.prop(
    "hlcStringCheck accepts exactly what the HlcString schema accepts, string after string",
    [nearHlcStringsArb],
    ([strings]) => {
      const check = Hlc.hlcStringCheck()
      const isHlcString = Schema.is(Hlc.HlcString)
      expect(strings.map(check)).toEqual(strings.map((s) => isHlcString(s)))
    }
  )

  it.prop("parse(format(h)) returns h", [hlcArb], ([h]) => {
    expect(Hlc.parse(Hlc.format(h))).toEqual(Either.right(h))
  })

  it.prop("the string form sorts exactly like the value", [hlcArb, hlcArb], ([a, b]) => {
    const sa = Hlc.format(a)
    const sb = Hlc.format(b)
    expect(Math.sign(sa < sb ? -1 : sa > sb ? 1 : 0)).toBe(Hlc.compare(a, b))
    expect(sa.length).toBe(sb.length)
  })

  it.prop(
    "tick is strictly increasing whatever the wall clock does (stands still, runs backwards)",
    [hlcArb, fc.array(fc.integer({ min: 0, max: Hlc.MAX_WALL - 100_000 }), { minLength: 1, maxLength: 50 })],
    ([start, walls]) => {
      let last = start
      for (const wall of walls) {
        const next = Hlc.tick(last, wall)
        expect(Hlc.compare(next, last)).toBe(1)
        last = next
      }
    }
  )

  it("counter overflow borrows the next millisecond instead of failing", () => {
    const device = DeviceId.make("00000000-0000-4000-8000-000000000001")
    const full = Hlc.make(1000, Hlc.MAX_COUNTER, device)
    expect(Hlc.tick(full, 1000)).toEqual(Hlc.make(1001, 0, device))
    expect(Hlc.tick(full, 900)).toEqual(Hlc.make(1001, 0, device))
  })

  it.prop(
    "receive is above both the local and the remote clock",
    [hlcArb, hlcArb, fc.integer({ min: 0, max: Hlc.MAX_WALL - DRIFT - 2 })],
    ([local, remote, wall]) => {
      const merged = Hlc.receive(local, remote, wall, DRIFT)
      if (remote.wall > wall + DRIFT) {
        expect(Either.isLeft(merged)).toBe(true)
      } else {
        const m = Either.getOrThrow(merged)
        expect(Hlc.compare(m, local)).toBe(1)
        expect(Hlc.compare(m, remote)).toBe(1)
        expect(m.device).toBe(local.device)
      }
    }
  )

  it("a remote clock beyond the drift limit is refused with ClockDriftError", () => {
    const local = Hlc.make(10_000_000, 0, DeviceId.make("00000000-0000-4000-8000-000000000001"))
    const remote = Hlc.make(10_000_000 + DRIFT + 1, 0, DeviceId.make("00000000-0000-4000-8000-000000000002"))
    const result = Hlc.receive(local, remote, 10_000_000, DRIFT)
    expect(Either.isLeft(result) && result.left._tag).toBe("ClockDriftError")
    expect(Either.isLeft(result) && result.left.message).toContain("drift limit")
  })

  it("malformed strings fail to parse with a clear message", () => {
    for (const bad of [
      "",
      "zz",
      "00000000000a.0001.not-a-uuid",
      "00000000000A.0001.00000000-0000-4000-8000-000000000001"
    ]) {
      const r = Hlc.parse(bad)
      expect(Either.isLeft(r)).toBe(true)
    }
    const r = Hlc.parse("garbage")
    expect(Either.isLeft(r) && String(r.left.message)).toContain("expected an HLC string")
  })
})
