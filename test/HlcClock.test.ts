import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, FastCheck as fc } from "effect"
import * as HlcClockService from "../src/services/HlcClock.js"
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

  // Without the lock when no lease is saved: a timestamp issued while another caller is saving a lease (between
  // its read of the last timestamp and its write) must not repeat or undercut what that caller issues.
  it.effect.prop(
    "callers on many fibers, some while a lease is being saved, get unique timestamps, each in order",
    [
      fc.array(
        fc.array(fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: -400, max: 400 })), {
          minLength: 1,
          maxLength: 12
        }),
        { minLength: 2, maxLength: 6 }
      ),
      fc.array(fc.integer({ min: 0, max: 150 }), { minLength: 1, maxLength: 40 })
    ],
    ([callers, wallSteps]) =>
      Effect.gen(function* () {
        let wall = START
        let saves = 0
        const clock = yield* HlcClockService.make({
          device: deviceA,
          wallClock: Effect.sync(() => wall),
          // A save that lets other fibers run before it ends, as a write to sync.db does.
          highWater: {
            load: Effect.succeed(0),
            save: () =>
              Effect.zipRight(
                Effect.yieldNow(),
                Effect.sync(() => void saves++)
              )
          }
        })
        // The wall clock moves on a fiber of its own while the callers run.
        const ticking = yield* Effect.fork(
          Effect.forEach(wallSteps, (d) =>
            Effect.zipRight(
              Effect.yieldNow(),
              Effect.sync(() => void (wall += d))
            )
          )
        )
        const issued = yield* Effect.forEach(
          callers,
          (steps) =>
            Effect.gen(function* () {
              const mine: Array<Hlc.Hlc> = []
              for (const step of steps) {
                // Small numbers issue that many timestamps; others receive a remote clock that far from ours.
                const got =
                  step >= 1 && step <= 3
                    ? yield* clock.nowBatch(step)
                    : [yield* clock.receive(Hlc.make(wall + step, 5, deviceB))]
                mine.push(...got)
                yield* Effect.yieldNow()
              }
              return mine
            }),
          { concurrency: "unbounded" }
        )
        yield* Effect.fromFiber(ticking)
        for (const mine of issued)
          for (let i = 1; i < mine.length; i++) expect(Hlc.compare(mine[i]!, mine[i - 1]!)).toBe(1)
        const all = issued.flat().map(Hlc.format)
        expect(new Set(all).size).toBe(all.length)
        expect(saves).toBeGreaterThan(0)
      }),
    { fastCheck: { numRuns: 200 } }
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
