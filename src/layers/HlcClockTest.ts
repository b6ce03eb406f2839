// An HLC whose physical clock a test sets by hand, with its high-water mark in memory (shared across
// "restarts" when the test passes the same mark).
import { Context, Effect, Layer, Ref } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import * as HlcClock from "../services/HlcClock.js"
import { memoryHighWater } from "./HlcClockMemory.js"

/** The hand-set physical clock of the test HLC. */
export class TestWallClock extends Context.Tag("tidemark/TestWallClock")<
  TestWallClock,
  {
    readonly set: (millis: number) => Effect.Effect<void>
    readonly adjust: (millis: number) => Effect.Effect<void>
  }
>() {}

export const layer = (options: {
  readonly device: DeviceId
  readonly startMillis?: number
  readonly maxDriftMillis?: number
  readonly highWater?: HlcClock.HighWaterMark
}): Layer.Layer<HlcClock.HlcClock | TestWallClock> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const wall = yield* Ref.make(options.startMillis ?? 1_700_000_000_000)
      const clock = yield* Effect.orDie(
        HlcClock.make({
          device: options.device,
          wallClock: Ref.get(wall),
          highWater: options.highWater ?? memoryHighWater(),
          ...(options.maxDriftMillis === undefined ? {} : { maxDriftMillis: options.maxDriftMillis })
        })
      )
      return Context.make(HlcClock.HlcClock, clock).pipe(
        Context.add(TestWallClock, {
          set: (millis) => Ref.set(wall, millis),
          adjust: (millis) => Ref.update(wall, (w) => w + millis)
        })
      )
    })
  )
