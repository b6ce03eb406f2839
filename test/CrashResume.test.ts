import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, FastCheck as fc, Layer, Option, Scope } from "effect"
import { FileLibraryCatalog } from "../src/domain/FileLibrary.js"
import * as TransportMemory from "../src/layers/TransportMemory.js"
import { Library } from "../src/services/Library.js"
import { LibraryStore } from "../src/services/LibraryStore.js"
import { WatermarkStore } from "../src/services/WatermarkStore.js"
import { deviceA, deviceB, entryFields, uuidN } from "./support/fixtures.js"
import * as Sim from "./support/sim.js"
import { tempDir } from "./support/tempDir.js"

/** Every row A holds at or below B's watermark for it is on B, at least as new: no cursor ahead of data. */
const cursorsNotAheadOfData = (a: Sim.Ctx, b: Sim.Ctx) =>
  Effect.gen(function* () {
    for (const resource of FileLibraryCatalog.names) {
      const mark = yield* Effect.provide(
        Effect.flatMap(WatermarkStore, (w) => w.get(deviceA, resource)),
        b
      )
      if (
        resource === "tag" ||
        resource === "collection" ||
        resource === "tag_assignment" ||
        resource === "collection_entry"
      ) {
        continue // shared kinds' watermarks are positions in A's log, checked by the final comparison
      }
      const rows = yield* Effect.provide(
        Effect.flatMap(LibraryStore, (s) => s.readAfter(resource, 0, 100_000)),
        a
      )
      for (const row of rows.filter((r) => r.seq <= mark)) {
        const held = yield* Effect.provide(
          Effect.flatMap(LibraryStore, (s) => s.get(resource, row.uuid)),
          b
        )
        expect(Option.isSome(held) && held.value.version >= row.version).toBe(true)
      }
    }
  })

describe("crash and resume", () => {
  it.live.prop(
    "interrupting a backfill at random pages, again and again, with random batch sizes, ends equal to the source",
    [
      fc.record({
        batchSize: fc.integer({ min: 1, max: 120 }),
        // Where each crash falls, as a fraction of the entry pages B still has to pull.
        crashes: fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), {
          minLength: 1,
          maxLength: 4
        }),
        entries: fc.integer({ min: 50, max: 600 }),
        tags: fc.integer({ min: 0, max: 30 })
      })
    ],
    ([s]) =>
      Effect.scoped(
        Effect.gen(function* () {
          const net = yield* Layer.build(Sim.networkLayer)
          const network = Effect.provide(TransportMemory.MemoryNetwork, net)
          const dir = yield* tempDir()
          const a = yield* Sim.device(net, deviceA)
          yield* Effect.provide(
            Effect.gen(function* () {
              const library = yield* Library
              yield* library.write("location", [
                { uuid: uuidN(1), fields: { volume: null, path: "/l", name: "l" } }
              ])
              yield* library.write(
                "entry",
                Array.from({ length: s.entries }, (_, i) => ({
                  uuid: uuidN(10_000 + i),
                  fields: entryFields(i, uuidN(1))
                }))
              )
              if (s.tags > 0) {
                yield* library.write(
                  "tag",
                  Array.from({ length: s.tags }, (_, i) => ({
                    uuid: uuidN(50_000 + i),
                    fields: { name: `t${i}`, color: null }
                  }))
                )
              }
            }),
            a
          )
          yield* Sim.startEngine(a, "memory:a", [])
          const options = { ...Sim.fastOptions, batchSize: s.batchSize }

          const entriesOnB = (b: Sim.Ctx) =>
            Effect.provide(
              Effect.flatMap(LibraryStore, (store) => store.countAfter("entry", 0)),
              b
            )
          let held = 0
          const heldAtCrash: Array<number> = []
          for (const fraction of s.crashes) {
            if (held === s.entries) break
            // Crash when B asks for the k-th page of entries of this run: always a page it still needs.
            const pagesLeft = Math.ceil((s.entries - held) / s.batchSize)
            const crashAt = 1 + Math.floor(fraction * pagesLeft)
            const run = yield* Scope.make()
            let requests = 0
            const crashed = yield* Deferred.make<void>()
            yield* Effect.flatMap(network, (n) =>
              n.intercept((request) => {
                // A restart that finds entries but no entry watermark reconciles first (PullRange pages).
                if ((request._tag !== "Pull" && request._tag !== "PullRange") || request.resource !== "entry")
                  return Effect.void
                requests += 1
                return requests === crashAt
                  ? Effect.zipRight(Deferred.succeed(crashed, undefined), Effect.never)
                  : Effect.void
              })
            )
            const b = yield* Scope.extend(Sim.deviceOnDisk(net, deviceB, dir), run)
            yield* Scope.extend(Sim.startEngine(b, "memory:b", ["memory:a"], options), run)
            yield* Deferred.await(crashed).pipe(
              Effect.timeoutFail({
                duration: "30 seconds",
                onTimeout: () => new Error(`B never asked for entry page ${crashAt}`)
              })
            )
            yield* Scope.close(run, Exit.void)
            // After the crash, on the files as they are: no cursor is ahead of the data.
            const reopened = yield* Scope.make()
            const b2 = yield* Scope.extend(Sim.deviceOnDisk(net, deviceB, dir), reopened)
            yield* cursorsNotAheadOfData(a, b2)
            held = yield* entriesOnB(b2)
            heldAtCrash.push(held)
            yield* Scope.close(reopened, Exit.void)
          }
          // The first crash, at the latest on the request for the last page, always cut a backfill in the middle.
          expect(heldAtCrash[0]).toBeLessThan(s.entries)
          yield* Effect.flatMap(network, (n) => n.intercept(() => Effect.void))
          const b = yield* Sim.deviceOnDisk(net, deviceB, dir)
          yield* Sim.startEngine(b, "memory:b", ["memory:a"], options)
          yield* Sim.converged([a, b], (lines) => lines.length === 1 + s.entries + s.tags)
        })
      ),
    { timeout: 240_000, fastCheck: { numRuns: 25 } }
  )
})
