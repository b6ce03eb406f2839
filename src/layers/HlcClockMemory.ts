// The HLC on the real clock with its high-water mark in memory: for a device whose stores live in memory.
// Monotonic for as long as the process runs; there is nothing to persist across restarts.
import { Clock, Effect, Layer } from "effect"
import * as HlcClock from "../services/HlcClock.js"
import { LocalDevice } from "../services/LocalDevice.js"

/** A high-water mark kept in memory (also what the test clock uses). */
export const memoryHighWater = (initial = 0): HlcClock.HighWaterMark & { readonly value: () => number } => {
  let mark = initial
  return {
    load: Effect.sync(() => mark),
    save: (millis) => Effect.sync(() => void (mark = Math.max(mark, millis))),
    value: () => mark
  }
}

export const layer: Layer.Layer<HlcClock.HlcClock, never, LocalDevice> = Layer.effect(
  HlcClock.HlcClock,
  Effect.flatMap(LocalDevice, ({ deviceId }) =>
    Effect.orDie(
      HlcClock.make({ device: deviceId, wallClock: Clock.currentTimeMillis, highWater: memoryHighWater() })
    )
  )
)
