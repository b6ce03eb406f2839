// An application swaps the engine's clock and cursor store for its own Layers through `Tidemark.layer`'s
// `overrides`, and the engine uses them: a write is versioned by the application's clock, and a pulled page
// advances the application's watermark store.
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Schedule, Schema } from "effect"
import { Resource, Services, Storage, Tidemark, Transport } from "tidemark"
import * as Testing from "tidemark/testing"
import * as CheckpointStoreMemory from "../src/layers/CheckpointStoreMemory.js"
import * as HlcClockTest from "../src/layers/HlcClockTest.js"
import * as WatermarkStoreMemory from "../src/layers/WatermarkStoreMemory.js"

const Note = Resource.owned("note", { title: Schema.String })
const App = Tidemark.schema(Note)

/** The memory watermark store, recording every advance: stands for an application's own implementation. */
const recordingWatermarks = (advances: Array<number>) =>
  Layer.effect(
    Services.WatermarkStore,
    Effect.map(Services.WatermarkStore, (store) => ({
      ...store,
      advance: (peer, resource, to) =>
        Effect.zipRight(
          Effect.sync(() => advances.push(to)),
          store.advance(peer, resource, to)
        )
    }))
  ).pipe(Layer.provide(WatermarkStoreMemory.layer), Layer.provide(CheckpointStoreMemory.layer))

describe("swapping the engine's services", () => {
  it.scopedLive(
    "the application's clock versions its writes and its watermark store receives the cursors",
    () =>
      Effect.gen(function* () {
        const network = yield* Transport.memoryNetwork
        const library = Tidemark.newLibrary()
        const advances: Array<number> = []
        const aDevice = Tidemark.newDevice()
        // 2001-01-01: far behind the real clock (a peer accepts the past, not a future beyond the drift
        // limit), so a version from it cannot come from anywhere else.
        const wall = Date.UTC(2001, 0, 1)
        const a = yield* Layer.build(
          Tidemark.layer({
            schema: App,
            library,
            device: aDevice,
            storage: Storage.memory,
            listen: "memory:a",
            transport: Transport.memory(network),
            options: Testing.fastOptions,
            overrides: {
              clock: Layer.unwrapEffect(
                Effect.map(Services.LocalDevice, ({ deviceId }) =>
                  HlcClockTest.layer({ device: deviceId, startMillis: wall })
                )
              )
            }
          })
        )
        const note = yield* Context.get(a, Tidemark.Database).write(Note, { title: "from 2001" })
        expect(Number.parseInt(note.version.slice(0, 12), 16)).toBe(wall)

        const b = yield* Layer.build(
          Tidemark.layer({
            schema: App,
            library,
            device: Tidemark.newDevice(),
            storage: Storage.memory,
            listen: "memory:b",
            peers: ["memory:a"],
            transport: Transport.memory(network),
            options: Testing.fastOptions,
            overrides: { watermarks: recordingWatermarks(advances) }
          })
        )
        yield* Effect.repeat(Context.get(b, Tidemark.Database).get(Note, note.uuid), {
          until: Option.isSome,
          schedule: Schedule.spaced("10 millis")
        })
        expect(advances.length).toBeGreaterThan(0)
      })
  )
})
