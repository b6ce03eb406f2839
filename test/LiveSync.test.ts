import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import * as TransportMemory from "../src/layers/TransportMemory.js"
import { Library } from "../src/services/Library.js"
import { LibraryStore } from "../src/services/LibraryStore.js"
import { deviceA, deviceB, deviceC, uuidN } from "./support/fixtures.js"
import * as Sim from "./support/sim.js"

const network = Layer.build(Sim.networkLayer)

describe("live sync over the memory transport", () => {
  it.live("a location written on A appears on B, and a tag written on B appears on A", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* network
        const a = yield* Sim.device(net, deviceA)
        const b = yield* Sim.device(net, deviceB)
        yield* Sim.startEngine(a, "memory:a", ["memory:b"])
        yield* Sim.startEngine(b, "memory:b", ["memory:a"])
        yield* Effect.flatMap(Library, (l) =>
          l.write("location", [{ uuid: uuidN(1), fields: { volume: null, path: "/photos", name: "photos" } }])
        ).pipe(Effect.provide(a))
        yield* Effect.flatMap(Library, (l) =>
          l.write("tag", [{ uuid: uuidN(2), fields: { name: "holiday", color: "blue" } }])
        ).pipe(Effect.provide(b))
        const lines = yield* Sim.converged([a, b], (l) => l.length === 2)
        expect(lines.some((l) => l.includes('"resource":"location"') && l.includes("/photos"))).toBe(true)
        expect(lines.some((l) => l.includes('"resource":"tag"') && l.includes("holiday"))).toBe(true)
      })
    )
  )
})
