// The behaviour every CheckpointStore promises (src/services/CheckpointStore.ts), as tests any implementation
// runs: call `checkpointStoreContract(name, makeLayer)` inside a test file; `makeLayer` gives a fresh, empty
// store on each call. Times come from Effect's Clock, so the tests drive them with TestClock.
import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, FastCheck as fc, type Layer, Option, TestClock } from "effect"
import type { ResourceType } from "../../src/domain/Resource.js"
import {
  type Checkpoint,
  type CheckpointProgress,
  CheckpointStore
} from "../../src/services/CheckpointStore.js"
import { deviceA, deviceB, deviceC } from "../support/fixtures.js"

export type CheckpointStoreLayer = () => Layer.Layer<CheckpointStore, unknown>

const peers = [deviceA, deviceB, deviceC] as const
const kinds = ["entry", "location", "tag"] as const satisfies ReadonlyArray<ResourceType>

const progress = (cursor: number, recordsDone = cursor): CheckpointProgress => ({
  cursor,
  recordsDone,
  totalExpected: 10_000,
  logStart: 3
})

const progressArb: fc.Arbitrary<CheckpointProgress> = fc.record({
  cursor: fc.integer({ min: 0, max: 1_000_000 }),
  recordsDone: fc.integer({ min: 0, max: 1_000_000 }),
  totalExpected: fc.integer({ min: 0, max: 1_000_000 }),
  logStart: fc.integer({ min: 0, max: 1_000_000 })
})

const opArb = fc.record({
  peer: fc.constantFrom(...peers),
  resource: fc.constantFrom(...kinds),
  /** Milliseconds the clock moves before the operation. */
  wait: fc.integer({ min: 0, max: 5_000 }),
  save: fc.option(progressArb, { nil: undefined })
})

export const checkpointStoreContract = (name: string, makeLayer: CheckpointStoreLayer) =>
  describe(`CheckpointStore contract (${name})`, () => {
    const run = <A, E>(effect: Effect.Effect<A, E, CheckpointStore>) => Effect.provide(effect, makeLayer())

    it.effect("there is no checkpoint before the first save", () =>
      run(
        Effect.gen(function* () {
          const checkpoints = yield* CheckpointStore
          expect(yield* checkpoints.get(deviceB, "entry")).toEqual(Option.none())
          expect(yield* checkpoints.list).toEqual([])
        })
      )
    )

    it.effect("a save is read back whole, stamped with the Clock's time as both start and update", () =>
      run(
        Effect.gen(function* () {
          const checkpoints = yield* CheckpointStore
          yield* TestClock.adjust(Duration.millis(1_500))
          yield* checkpoints.save(deviceB, "entry", progress(200, 150))
          const expected: Checkpoint = {
            peer: deviceB,
            resource: "entry",
            ...progress(200, 150),
            startedAt: 1_500,
            startedDone: 150,
            updatedAt: 1_500
          }
          expect(yield* checkpoints.get(deviceB, "entry")).toEqual(Option.some(expected))
          expect(yield* checkpoints.list).toEqual([expected])
        })
      )
    )

    it.effect(
      "later saves of the same backfill keep when it began and what it had then; updatedAt moves",
      () =>
        run(
          Effect.gen(function* () {
            const checkpoints = yield* CheckpointStore
            yield* TestClock.adjust(Duration.millis(1_000))
            yield* checkpoints.save(deviceB, "entry", progress(100, 40))
            yield* TestClock.adjust(Duration.millis(2_000))
            yield* checkpoints.save(deviceB, "entry", {
              cursor: 300,
              recordsDone: 240,
              totalExpected: 900,
              logStart: 7
            })
            expect(yield* checkpoints.get(deviceB, "entry")).toEqual(
              Option.some({
                peer: deviceB,
                resource: "entry",
                cursor: 300,
                recordsDone: 240,
                totalExpected: 900,
                logStart: 7,
                startedAt: 1_000,
                startedDone: 40,
                updatedAt: 3_000
              })
            )
          })
        )
    )

    it.effect("a save keeps the progress fields only, whatever else the object it was given carries", () =>
      run(
        Effect.gen(function* () {
          const checkpoints = yield* CheckpointStore
          const carrying = { ...progress(9), done: 9, startedAt: 123, peer: deviceC }
          yield* checkpoints.save(deviceB, "tag", carrying)
          expect(yield* checkpoints.list).toEqual([
            { peer: deviceB, resource: "tag", ...progress(9), startedAt: 0, startedDone: 9, updatedAt: 0 }
          ])
        })
      )
    )

    it.effect("clear forgets one (peer, kind) only; a save after it begins a new backfill", () =>
      run(
        Effect.gen(function* () {
          const checkpoints = yield* CheckpointStore
          yield* checkpoints.save(deviceB, "entry", progress(100))
          yield* checkpoints.save(deviceB, "tag", progress(5))
          yield* checkpoints.save(deviceC, "entry", progress(7))
          yield* checkpoints.clear(deviceB, "entry")
          yield* checkpoints.clear(deviceA, "entry")
          expect(yield* checkpoints.get(deviceB, "entry")).toEqual(Option.none())
          expect((yield* checkpoints.list).map((c) => [c.peer, c.resource, c.cursor])).toEqual([
            [deviceB, "tag", 5],
            [deviceC, "entry", 7]
          ])
          yield* TestClock.adjust(Duration.millis(60_000))
          yield* checkpoints.save(deviceB, "entry", progress(20, 20))
          const again = Option.getOrThrow(yield* checkpoints.get(deviceB, "entry"))
          expect([again.startedAt, again.startedDone, again.updatedAt]).toEqual([60_000, 20, 60_000])
        })
      )
    )

    it.effect.prop(
      "after any saves and clears, list holds the last save of each (peer, kind) since its last clear, in order",
      [fc.array(opArb, { maxLength: 25 })],
      ([ops]) =>
        run(
          Effect.gen(function* () {
            const checkpoints = yield* CheckpointStore
            const model = new Map<string, Checkpoint>()
            for (const op of ops) {
              yield* TestClock.adjust(Duration.millis(op.wait))
              const now = yield* Clock.currentTimeMillis
              const key = `${op.peer}/${op.resource}`
              if (op.save === undefined) {
                yield* checkpoints.clear(op.peer, op.resource)
                model.delete(key)
              } else {
                yield* checkpoints.save(op.peer, op.resource, op.save)
                const began = model.get(key)
                model.set(key, {
                  peer: op.peer,
                  resource: op.resource,
                  ...op.save,
                  startedAt: began?.startedAt ?? now,
                  startedDone: began?.startedDone ?? op.save.recordsDone,
                  updatedAt: now
                })
              }
            }
            const expected = [...model.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, c]) => c)
            expect(yield* checkpoints.list).toEqual(expected)
            for (const c of expected) {
              expect(yield* checkpoints.get(c.peer, c.resource)).toEqual(Option.some(c))
            }
          })
        ),
      { fastCheck: { numRuns: 20 } }
    )
  })
