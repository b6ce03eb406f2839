// The behaviour every WatermarkStore promises (src/services/WatermarkStore.ts), as tests any implementation
// runs: call `watermarkStoreContract(name, makeLayer)` inside a test file. `makeLayer` gives a fresh, empty
// store on each call, with the CheckpointStore it shares its device with (forgetting a peer clears both).
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, FastCheck as fc, type Layer, Option, TestClock } from "effect"
import type { DeviceId } from "../../src/domain/Ids.js"
import type { ResourceType } from "../../src/domain/Resource.js"
import { CheckpointStore, type CheckpointProgress } from "../../src/services/CheckpointStore.js"
import { WatermarkStore } from "../../src/services/WatermarkStore.js"
import { deviceA, deviceB, deviceC } from "../support/fixtures.js"

export type WatermarkStoreLayer = () => Layer.Layer<WatermarkStore | CheckpointStore, unknown>

const peers = [deviceA, deviceB, deviceC] as const
const kinds = ["entry", "location", "tag"] as const satisfies ReadonlyArray<ResourceType>

const progress = (cursor: number): CheckpointProgress => ({
  cursor,
  recordsDone: cursor,
  totalExpected: 1_000,
  logStart: 0
})

/** Every (peer, kind) of the fixtures with its watermark, in the order `list` promises. */
const allMarks = Effect.gen(function* () {
  const marks = yield* WatermarkStore
  return yield* Effect.forEach(peers, (peer) =>
    Effect.forEach(kinds, (resource) =>
      Effect.map(marks.get(peer, resource), (watermark) => ({ peer, resource, watermark }))
    )
  ).pipe(Effect.map((rows) => rows.flat()))
})

/** Watermarks and checkpoints of B, C (entry, tag each), to see what forgetting B leaves of C. */
const holdingTwoPeers = Effect.gen(function* () {
  const marks = yield* WatermarkStore
  const checkpoints = yield* CheckpointStore
  for (const peer of [deviceB, deviceC]) {
    yield* marks.advance(peer, "entry", 500)
    yield* marks.advance(peer, "tag", 40)
    yield* checkpoints.save(peer, "entry", progress(500))
    yield* checkpoints.save(peer, "tag", progress(40))
  }
})

const heldBy = (peer: DeviceId) =>
  Effect.gen(function* () {
    const marks = (yield* (yield* WatermarkStore).list).filter((m) => m.peer === peer)
    const checkpoints = (yield* (yield* CheckpointStore).list).filter((c) => c.peer === peer)
    return {
      marks: marks.map((m) => [m.resource, m.watermark]),
      checkpoints: checkpoints.map((c) => [c.resource, c.cursor])
    }
  })

const bothKinds = {
  marks: [
    ["entry", 500],
    ["tag", 40]
  ],
  checkpoints: [
    ["entry", 500],
    ["tag", 40]
  ]
}
const nothing = { marks: [], checkpoints: [] }

export const watermarkStoreContract = (name: string, makeLayer: WatermarkStoreLayer) =>
  describe(`WatermarkStore contract (${name})`, () => {
    const run = <A, E>(effect: Effect.Effect<A, E, WatermarkStore | CheckpointStore>) =>
      Effect.provide(effect, makeLayer())

    it.effect("a peer never pulled from is at 0 for every kind, with no store id and nothing listed", () =>
      run(
        Effect.gen(function* () {
          const marks = yield* WatermarkStore
          expect((yield* allMarks).every((m) => m.watermark === 0)).toBe(true)
          expect(yield* marks.list).toEqual([])
          expect(yield* marks.peerStore(deviceB)).toEqual(Option.none())
        })
      )
    )

    it.effect.prop(
      "any sequence of advances leaves each (peer, kind) at the highest it was advanced to, others at 0",
      [
        fc.array(
          fc.record({
            peer: fc.constantFrom(...peers),
            resource: fc.constantFrom(...kinds),
            to: fc.integer({ min: 0, max: 1_000 })
          }),
          { maxLength: 30 }
        )
      ],
      ([advances]) =>
        run(
          Effect.gen(function* () {
            const marks = yield* WatermarkStore
            yield* Effect.forEach(advances, (a) => marks.advance(a.peer, a.resource, a.to), { discard: true })
            const highest = (peer: DeviceId, resource: ResourceType) =>
              Math.max(
                0,
                ...advances.filter((a) => a.peer === peer && a.resource === resource).map((a) => a.to)
              )
            expect(yield* allMarks).toEqual(
              peers.flatMap((peer) =>
                kinds.map((resource) => ({ peer, resource, watermark: highest(peer, resource) }))
              )
            )
            const listed = (yield* marks.list).map(({ peer, resource, watermark }) => ({
              peer,
              resource,
              watermark
            }))
            expect(listed).toEqual(
              peers.flatMap((peer) =>
                kinds
                  .filter((resource) => advances.some((a) => a.peer === peer && a.resource === resource))
                  .map((resource) => ({ peer, resource, watermark: highest(peer, resource) }))
              )
            )
          })
        ),
      { fastCheck: { numRuns: 20 } }
    )

    it.effect("advancing one kind never moves another kind's watermark", () =>
      run(
        Effect.gen(function* () {
          const marks = yield* WatermarkStore
          yield* marks.advance(deviceB, "entry", 500)
          yield* marks.advance(deviceB, "tag", 3)
          expect(yield* marks.get(deviceB, "entry")).toBe(500)
          yield* marks.advance(deviceB, "tag", 900)
          expect(yield* marks.get(deviceB, "entry")).toBe(500)
          expect(yield* marks.get(deviceB, "location")).toBe(0)
          expect(yield* marks.get(deviceC, "tag")).toBe(0)
        })
      )
    )

    it.effect("a late or repeated advance changes neither the watermark nor the time it last moved", () =>
      run(
        Effect.gen(function* () {
          const marks = yield* WatermarkStore
          yield* TestClock.adjust(Duration.millis(1_000))
          yield* marks.advance(deviceB, "entry", 10)
          yield* TestClock.adjust(Duration.millis(1_000))
          yield* marks.advance(deviceB, "entry", 4)
          yield* marks.advance(deviceB, "entry", 10)
          expect(yield* marks.list).toEqual([
            { peer: deviceB, resource: "entry", watermark: 10, updatedAt: 1_000 }
          ])
          yield* marks.advance(deviceB, "entry", 11)
          expect(yield* marks.list).toEqual([
            { peer: deviceB, resource: "entry", watermark: 11, updatedAt: 2_000 }
          ])
        })
      )
    )

    it.effect("the first store id of a peer is recorded and voids nothing", () =>
      run(
        Effect.gen(function* () {
          const marks = yield* WatermarkStore
          yield* holdingTwoPeers
          expect(yield* marks.rebase(deviceB, "store-1")).toBe(false)
          expect(yield* marks.peerStore(deviceB)).toEqual(Option.some("store-1"))
          expect(yield* marks.peerStore(deviceC)).toEqual(Option.none())
          expect(yield* heldBy(deviceB)).toEqual(bothKinds)
        })
      )
    )

    it.effect("the same store id again keeps every watermark and checkpoint of the peer", () =>
      run(
        Effect.gen(function* () {
          const marks = yield* WatermarkStore
          expect(yield* marks.rebase(deviceB, "store-1")).toBe(false)
          yield* holdingTwoPeers
          expect(yield* marks.rebase(deviceB, "store-1")).toBe(false)
          expect(yield* heldBy(deviceB)).toEqual(bothKinds)
          expect(yield* marks.peerStore(deviceB)).toEqual(Option.some("store-1"))
        })
      )
    )

    it.effect(
      "another store id forgets every watermark and checkpoint of that peer, and no other peer's",
      () =>
        run(
          Effect.gen(function* () {
            const marks = yield* WatermarkStore
            yield* marks.rebase(deviceB, "store-1")
            yield* marks.rebase(deviceC, "store-9")
            yield* holdingTwoPeers
            expect(yield* marks.rebase(deviceB, "store-2")).toBe(true)
            expect(yield* heldBy(deviceB)).toEqual(nothing)
            expect(yield* heldBy(deviceC)).toEqual(bothKinds)
            expect(yield* marks.peerStore(deviceB)).toEqual(Option.some("store-2"))
            expect(yield* marks.peerStore(deviceC)).toEqual(Option.some("store-9"))
            // Forgotten means back to 0: the new file's seqs are pulled from its start.
            yield* marks.advance(deviceB, "entry", 7)
            expect(yield* marks.get(deviceB, "entry")).toBe(7)
            expect(yield* marks.rebase(deviceB, "store-2")).toBe(false)
          })
        )
    )

    it.effect("forget drops every watermark and checkpoint of the peer, and no other peer's", () =>
      run(
        Effect.gen(function* () {
          const marks = yield* WatermarkStore
          yield* marks.rebase(deviceB, "store-1")
          yield* holdingTwoPeers
          yield* marks.forget(deviceB)
          expect(yield* heldBy(deviceB)).toEqual(nothing)
          expect(yield* heldBy(deviceC)).toEqual(bothKinds)
          // The file is the same one, restored: its id stays, and a lower position is accepted again.
          expect(yield* marks.peerStore(deviceB)).toEqual(Option.some("store-1"))
          yield* marks.advance(deviceB, "entry", 7)
          expect(yield* marks.get(deviceB, "entry")).toBe(7)
        })
      )
    )

    it.effect("forgetting a peer never seen is harmless", () =>
      run(
        Effect.gen(function* () {
          const marks = yield* WatermarkStore
          yield* holdingTwoPeers
          yield* marks.forget(deviceA)
          expect(yield* heldBy(deviceB)).toEqual(bothKinds)
          expect(yield* heldBy(deviceC)).toEqual(bothKinds)
        })
      )
    )
  })
