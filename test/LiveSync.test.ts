import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as TransportMemory from "../src/layers/TransportMemory.js"
import { Library } from "../src/services/Library.js"
import { deviceA, deviceB, deviceC, uuidN } from "./support/fixtures.js"
import * as Sim from "./support/sim.js"
import { DeviceId, LibraryId } from "../src/domain/Ids.js"

const network = Layer.build(Sim.networkLayer)
const tag = (name: string) => ({ name, color: null })
const write = (
  ctx: Sim.Ctx,
  resource: "tag" | "location",
  uuid: ReturnType<typeof uuidN>,
  fields: Record<string, unknown>
) => Effect.flatMap(Library, (l) => l.write(resource, [{ uuid, fields }])).pipe(Effect.provide(ctx))
const location = (path: string) => ({ volume: null, path, name: path.slice(1) || "root" })

describe("live sync over the memory transport", () => {
  it.live("a location written on A appears on B, and a tag written on B appears on A", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* network
        const a = yield* Sim.device(net, deviceA)
        const b = yield* Sim.device(net, deviceB)
        yield* Sim.startEngine(a, "memory:a", ["memory:b"])
        yield* Sim.startEngine(b, "memory:b", ["memory:a"])
        yield* write(a, "location", uuidN(1), location("/photos"))
        yield* write(b, "tag", uuidN(2), { name: "holiday", color: "blue" })
        const lines = yield* Sim.converged([a, b], (l) => l.length === 2)
        expect(lines.some((l) => l.includes('"resource":"location"') && l.includes("/photos"))).toBe(true)
        expect(lines.some((l) => l.includes('"resource":"tag"') && l.includes("holiday"))).toBe(true)
      })
    )
  )

  it.live("a tag renamed on both sides of a partition converges to the rename with the higher HLC", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* network
        const a = yield* Sim.device(net, deviceA)
        const b = yield* Sim.device(net, deviceB, { startMillis: 1_700_000_000_500 })
        yield* Sim.startEngine(a, "memory:a", ["memory:b"])
        yield* Sim.startEngine(b, "memory:b", ["memory:a"])
        yield* write(a, "tag", uuidN(1), tag("original"))
        yield* Sim.converged([a, b], (l) => l.length === 1)
        yield* Effect.provide(
          Effect.flatMap(TransportMemory.MemoryNetwork, (n) => n.partition([[deviceA], [deviceB]])),
          net
        )
        const [onA] = yield* write(a, "tag", uuidN(1), tag("renamed on A"))
        const [onB] = yield* write(b, "tag", uuidN(1), tag("renamed on B"))
        yield* Effect.sleep("100 millis")
        expect((yield* Sim.dump(a))[0]).toContain("renamed on A")
        expect((yield* Sim.dump(b))[0]).toContain("renamed on B")
        yield* Effect.provide(
          Effect.flatMap(TransportMemory.MemoryNetwork, (n) => n.heal),
          net
        )
        const winner = onA!.version > onB!.version ? "renamed on A" : "renamed on B"
        const lines = yield* Sim.converged([a, b], (l) => l[0]!.includes(winner))
        expect(lines[0]).toContain(onA!.version > onB!.version ? onA!.version : onB!.version)
      })
    )
  )

  it.live(
    "update then delete stays deleted, with duplicated and reordered delivery and a late re-delivery",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const net = yield* network
          yield* Effect.provide(
            Effect.flatMap(TransportMemory.MemoryNetwork, (n) =>
              n.setFaults({ ...TransportMemory.noFaults, duplicateRate: 0.5, maxDelayMillis: 15 })
            ),
            net
          )
          const a = yield* Sim.device(net, deviceA)
          const b = yield* Sim.device(net, deviceB)
          yield* Sim.startEngine(b, "memory:b", ["memory:a"])
          yield* Sim.startEngine(a, "memory:a", [])
          yield* write(a, "tag", uuidN(1), tag("first"))
          const [update] = yield* write(a, "tag", uuidN(1), tag("updated"))
          yield* Effect.flatMap(Library, (l) => l.remove("tag", uuidN(1))).pipe(Effect.provide(a))
          yield* Sim.converged([a, b], (l) => l.length === 1 && l[0]!.includes('"deleted":true'))
          // The update arrives once more, late.
          const changed = yield* Effect.flatMap(Library, (l) => l.applyRemote("tag", [update!])).pipe(
            Effect.provide(b)
          )
          expect(changed).toBe(0)
          expect((yield* Sim.dump(b))[0]).toContain('"deleted":true')
        })
      )
  )

  it.live("in a chain A–B–C where C only talks to B, A's rows reach C and C's reach A", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* network
        const a = yield* Sim.device(net, deviceA)
        const b = yield* Sim.device(net, deviceB)
        const c = yield* Sim.device(net, deviceC)
        yield* Sim.startEngine(a, "memory:a", ["memory:b"])
        yield* Sim.startEngine(b, "memory:b", ["memory:a", "memory:c"])
        yield* Sim.startEngine(c, "memory:c", ["memory:b"])
        yield* write(a, "location", uuidN(1), location("/from-a"))
        yield* write(a, "tag", uuidN(2), tag("tag from A"))
        yield* write(c, "location", uuidN(3), location("/from-c"))
        yield* write(c, "tag", uuidN(4), tag("tag from C"))
        const lines = yield* Sim.converged([a, b, c], (l) => l.length === 4)
        expect(lines.join("\n")).toContain("/from-c")
        expect(lines.join("\n")).toContain("tag from A")
      })
    )
  )
})

describe("refusing what must not be applied", () => {
  it.live(
    "a device whose clock is beyond the drift limit has its rows refused; other peers are unaffected",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const net = yield* network
          const a = yield* Sim.device(net, deviceA)
          const b = yield* Sim.device(net, deviceB)
          const ahead = yield* Sim.device(net, deviceC, { startMillis: 1_700_000_000_000 + 10 * 60_000 })
          yield* Sim.startEngine(a, "memory:a", [])
          yield* Sim.startEngine(ahead, "memory:ahead", [])
          yield* Sim.startEngine(b, "memory:b", ["memory:a", "memory:ahead"])
          yield* write(ahead, "tag", uuidN(9), tag("from the future"))
          yield* write(a, "tag", uuidN(1), tag("from A"))
          yield* Sim.converged([a, b], (l) => l.length === 1)
          yield* Effect.sleep("200 millis")
          yield* write(a, "tag", uuidN(2), tag("still from A"))
          const lines = yield* Sim.converged([a, b], (l) => l.length === 2)
          expect(lines.join("\n")).not.toContain("from the future")
        })
      )
  )

  it.live(
    "a device with the wrong secret or of another library is refused and nothing it has is pulled",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const net = yield* network
          const a = yield* Sim.device(net, deviceA)
          const wrongSecret = yield* Sim.device(net, deviceB, { secret: "not the secret" })
          const otherLibrary = yield* Sim.device(net, deviceC, {
            libraryId: LibraryId.make("22222222-0000-4000-8000-000000000000")
          })
          const d = yield* Sim.device(net, DeviceId.make("dddddddd-0000-4000-8000-000000000004"))
          yield* Sim.startEngine(a, "memory:a", ["memory:wrong", "memory:other"])
          yield* Sim.startEngine(wrongSecret, "memory:wrong", ["memory:a"])
          yield* Sim.startEngine(otherLibrary, "memory:other", ["memory:a"])
          yield* Sim.startEngine(d, "memory:d", ["memory:a"])
          yield* write(wrongSecret, "tag", uuidN(7), tag("intruder"))
          yield* write(otherLibrary, "tag", uuidN(8), tag("other library"))
          yield* write(a, "tag", uuidN(1), tag("mine"))
          yield* Sim.converged([a, d], (l) => l.length === 1)
          yield* Effect.sleep("200 millis")
          expect(yield* Sim.dump(a)).toHaveLength(1)
          expect(yield* Sim.dump(wrongSecret)).toHaveLength(1)
          expect(yield* Sim.dump(otherLibrary)).toHaveLength(1)
        })
      )
  )
})

describe("one --peer is enough", () => {
  it.live(
    "a device that only B was told about pulls from B too, without waiting for a long poll to end",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const net = yield* network
          const a = yield* Sim.device(net, deviceA)
          const b = yield* Sim.device(net, deviceB)
          // Long polls of 30 s: a follow that waited for one to end would miss the 5 s below.
          const slow = { ...Sim.fastOptions, liveWaitMillis: 30_000 }
          yield* Sim.startEngine(a, "memory:a", [], slow)
          yield* write(b, "tag", uuidN(1), tag("only B had it"))
          yield* Sim.startEngine(b, "memory:b", ["memory:a"], slow)
          yield* Sim.converged([a, b], (l) => l.length === 1, "5 seconds")
        })
      )
  )
})
