import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import * as TransportMemory from "../src/layers/TransportMemory.js"
import { type Backfill, BackfillProgress } from "../src/services/BackfillProgress.js"
import { Library } from "../src/services/Library.js"
import { LibraryStore } from "../src/services/LibraryStore.js"
import * as StatusReport from "../src/services/StatusReport.js"
import { WatermarkStore } from "../src/services/WatermarkStore.js"
import { deviceA, deviceB, entryFields, uuidN } from "./support/fixtures.js"
import * as Sim from "./support/sim.js"

type Ctx = Sim.Ctx
const run = <A, E>(ctx: Ctx, effect: Effect.Effect<A, E, Sim.DeviceContext>) => Effect.provide(effect, ctx)

const writeLocationsAndEntries = (ctx: Ctx, locations: number, entries: number) =>
  run(
    ctx,
    Effect.gen(function* () {
      const library = yield* Library
      yield* library.write(
        "location",
        Array.from({ length: locations }, (_, i) => ({
          uuid: uuidN(1 + i),
          fields: { volume: null, path: `/loc-${i}`, name: `loc-${i}` }
        }))
      )
      yield* library.write(
        "entry",
        Array.from({ length: entries }, (_, i) => ({
          uuid: uuidN(1_000_000 + i),
          fields: entryFields(i, uuidN(1))
        }))
      )
    })
  )

const count = (ctx: Ctx, resource: "location" | "entry") =>
  run(
    ctx,
    Effect.flatMap(LibraryStore, (s) => s.countAfter(resource, 0))
  )

const waitUntil = (what: string, condition: Effect.Effect<boolean, unknown>) =>
  Effect.gen(function* () {
    while (!(yield* condition)) yield* Effect.sleep("5 millis")
  }).pipe(
    Effect.timeoutFail({
      duration: "30 seconds",
      onTimeout: () => new Error(`timed out waiting for ${what}`)
    })
  )

describe("backfill progress as a Stream", () => {
  it.live(
    "an app watching the changes sees done grow to the total for each kind, with a rate, then caught up",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const net = yield* Layer.build(Sim.networkLayer)
          const a = yield* Sim.device(net, deviceA)
          const b = yield* Sim.device(net, deviceB)
          yield* writeLocationsAndEntries(a, 1_200, 3_000)
          yield* Sim.startEngine(a, "memory:a", [])

          const seen: Array<ReadonlyArray<Backfill>> = []
          const watcher = yield* run(
            b,
            Effect.flatMap(BackfillProgress, (p) =>
              Stream.runForEach(p.changes, (all) => Effect.sync(() => void seen.push(all)))
            )
          ).pipe(Effect.fork)
          yield* Effect.yieldNow()
          yield* Sim.startEngine(b, "memory:b", ["memory:a"], { ...Sim.fastOptions, batchSize: 500 })
          const caughtUp = (resource: string) =>
            run(
              b,
              Effect.flatMap(BackfillProgress, (p) =>
                Effect.map(p.get, (all) => all.some((x) => x.resource === resource && x.caughtUp))
              )
            )
          yield* waitUntil(
            "entries and locations caught up",
            Effect.map(Effect.all([caughtUp("entry"), caughtUp("location")]), ([e, l]) => e && l)
          )
          yield* Fiber.interrupt(watcher)

          expect(seen[0]).toEqual([])
          for (const [resource, total] of [
            ["entry", 3_000],
            ["location", 1_200]
          ] as const) {
            // Each change is the whole list: keep the updates of this kind (an entry left as it was is the
            // same object).
            const updates = seen
              .flatMap((all) => all.filter((x) => x.resource === resource && x.peer === deviceA))
              .filter((u, i, all) => i === 0 || all[i - 1] !== u)
            const done = updates.map((u) => u.done)
            expect(done.length).toBeGreaterThan(1)
            expect(done).toEqual([...done].sort((x, y) => x - y))
            const last = updates[updates.length - 1]!
            expect(last).toMatchObject({ done: total, total, caughtUp: true })
            // Every update saw the whole backfill: done never passes the total.
            expect(updates.every((u) => u.total === total && u.done <= total)).toBe(true)
            // 500 rows a page, one update a page: the rate is measured from the first page on, with the Clock.
            expect(done).toEqual(
              Array.from({ length: Math.ceil(total / 500) }, (_, i) => Math.min(total, 500 * (i + 1)))
            )
            expect(last.rate).toBeGreaterThan(0)
            expect(
              updates.filter((u) => !u.caughtUp).every((u) => u.etaSeconds === null || u.etaSeconds >= 0)
            ).toBe(true)
          }
        })
      )
  )

  it.live(
    "a stream interrupted after a page leaves the watermark, the progress and /status at that page",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const net = yield* Layer.build(Sim.networkLayer)
          const a = yield* Sim.device(net, deviceA)
          const b = yield* Sim.device(net, deviceB)
          yield* writeLocationsAndEntries(a, 1, 5_000)
          yield* Sim.startEngine(a, "memory:a", [])
          // B's third request for entries never reaches A: B applies the second page and waits.
          let pulls = 0
          yield* Effect.provide(
            Effect.flatMap(TransportMemory.MemoryNetwork, (network) =>
              network.intercept((request) => {
                if (request._tag !== "Pull" || request.resource !== "entry") return Effect.void
                pulls += 1
                return pulls === 3 ? Effect.never : Effect.void
              })
            ),
            net
          )
          const engine = yield* Scope.make()
          yield* Scope.extend(
            Sim.startEngine(b, "memory:b", ["memory:a"], { ...Sim.fastOptions, batchSize: 1_000 }),
            engine
          )
          yield* waitUntil(
            "two pages",
            Effect.map(count(b, "entry"), (n) => n === 2_000)
          )
          yield* Effect.sleep("50 millis")
          yield* Scope.close(engine, Exit.void)

          const seqOf2000th = yield* run(
            a,
            Effect.map(
              Effect.flatMap(LibraryStore, (s) => s.readAfter("entry", 0, 2_000)),
              (rows) => rows[1_999]!.seq
            )
          )
          expect(yield* count(b, "entry")).toBe(2_000)
          expect(
            yield* run(
              b,
              Effect.flatMap(WatermarkStore, (w) => w.get(deviceA, "entry"))
            )
          ).toBe(seqOf2000th)
          const entry = (yield* run(
            b,
            Effect.flatMap(BackfillProgress, (p) => p.get)
          )).find((x) => x.resource === "entry")
          expect(entry).toMatchObject({ peer: deviceA, done: 2_000, total: 5_000, caughtUp: false })
          const report = yield* run(
            b,
            Effect.provideService(StatusReport.make, StatusReport.DeviceStorage, { kind: "memory" })
          )
          expect(report.backfill).toContainEqual(
            expect.objectContaining({ peer: deviceA, resource: "entry", done: 2_000, total: 5_000 })
          )
          expect(report.backfill.some((x) => x.resource === "location")).toBe(false)
        })
      )
  )
})
