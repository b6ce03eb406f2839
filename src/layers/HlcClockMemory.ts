// The HLC on the real clock with its high-water mark in memory: for a device whose stores live in memory.
// Monotonic for as long as the process runs; there is nothing to persist across restarts.
import { Clock, Layer } from "effect"
import * as HlcClock from "../services/HlcClock.js"
import { LocalDevice } from "../services/LocalDevice.js"
import { memoryHighWater } from "./HlcClockTest.js"
import { Effect } from "effect"

export const layer: Layer.Layer<HlcClock.HlcClock, never, LocalDevice> = Layer.effect(
  HlcClock.HlcClock,
  Effect.flatMap(LocalDevice, ({ deviceId }) =>
    Effect.orDie(
      HlcClock.make({ device: deviceId, wallClock: Clock.currentTimeMillis, highWater: memoryHighWater() })
    )
  )
)
