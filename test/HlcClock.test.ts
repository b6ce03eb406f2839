import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, FastCheck as fc } from "effect"
import * as Hlc from "../src/domain/Hlc.js"
import * as HlcClockMemory from "../src/layers/HlcClockMemory.js"
import * as HlcClockTest from "../src/layers/HlcClockTest.js"
import { HlcClock, LEASE_MILLIS } from "../src/services/HlcClock.js"
import { deviceA, deviceB } from "./support/fixtures.js"

const START = 1_700_000_000_000

describe("HlcClock", () => {
  it.effect.prop(
    "issues strictly increasing timestamps while the wall clock jumps around and remote clocks merge in",
    [
      fc.array(
        fc.oneof(
          fc.record({ kind: fc.constant("wall" as const), delta: fc.integer({ min: -10_000, max: 10_000 }) }),
          fc.record({ kind: fc.constant("now" as const), n: fc.integer({ min: 1, max: 5 }) }),
          fc.record({
            kind: fc.constant("receive" as const),
            ahead: fc.integer({ min: -10_000, max: 10_000 })
          })
        ),
        { maxLength: 60 }
      )
    ],
    ([steps]) =>
      Effect.gen(function* () {
        const clock = yield* HlcClock
        const wall = yield* HlcClockTest.TestWallClock
        let wallNow = START
        let last = yield* clock.last
        for (const step of steps) {
          if (step.kind === "wall") {
            wallNow += step.delta
            yield* wall.set(wallNow)
            continue
          }
          const issued =
            step.kind === "now"
              ? yield* clock.nowBatch(step.n)
              : [yield* clock.receive(Hlc.make(wallNow + step.ahead, 7, deviceB))]
          for (const h of issued) {
            expect(Hlc.compare(h, last)).toBe(1)
            last = h
          }
        }
      }).pipe(Effect.provide(HlcClockTest.layer({ device: deviceA, startMillis: START })))
  )

  it.effect("a remote clock beyond the drift limit is refused and not adopted", () =>
    Effect.gen(function* () {
      const clock = yield* HlcClock
      const before = yield* clock.now
      const result = yield* Effect.either(clock.receive(Hlc.make(START + 60_001, 0, deviceB)))
      expect(Either.isLeft(result) && result.left._tag).toBe("ClockDriftError")
      expect(yield* clock.last).toEqual(before)
      const within = yield* clock.receive(Hlc.make(START + 59_000, 3, deviceB))
      expect(within).toEqual(Hlc.make(START + 59_000, 4, deviceA))
    }).pipe(
      Effect.provide(HlcClockTest.layer({ device: deviceA, startMillis: START, maxDriftMillis: 60_000 }))
    )
  )

  it.effect(
    "a restarted clock starts above everything issued before, even with the wall clock set back",
    () =>
      Effect.gen(function* () {
        const highWater = HlcClockMemory.memoryHighWater()
        const issued = yield* Effect.flatMap(HlcClock, (c) => c.nowBatch(1000)).pipe(
          Effect.provide(HlcClockTest.layer({ device: deviceA, startMillis: START, highWater }))
        )
        const first = yield* Effect.flatMap(HlcClock, (c) => c.now).pipe(
          Effect.provide(HlcClockTest.layer({ device: deviceA, startMillis: START - 3_600_000, highWater }))
        )
        expect(Hlc.compare(first, issued.at(-1)!)).toBe(1)
      })
  )

  // A script that runs a CLI command in a loop restarts the clock every fraction of a second: a restart
  // starts above the lease, so a lease longer than a command pushed every run further ahead of the wall
  // clock, until peers would refuse the device's rows as beyond the drift limit.
  it.effect("clocks restarted every 200 ms, each issuing a timestamp, stay within a lease of the wall", () =>
    Effect.gen(function* () {
      const highWater = HlcClockMemory.memoryHighWater()
      let ahead = 0
      for (let run = 0; run < 50; run++) {
        const wall = START + run * 200
        const issued = yield* Effect.flatMap(HlcClock, (c) => c.now).pipe(
          Effect.provide(HlcClockTest.layer({ device: deviceA, startMillis: wall, highWater }))
        )
        ahead = Math.max(ahead, issued.wall - wall)
      }
      expect(ahead).toBeLessThanOrEqual(LEASE_MILLIS)
    })
  )
})
