import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, FastCheck as fc, Layer, Scope } from "effect"
import * as Fingerprint from "../src/domain/Fingerprint.js"
import * as TransportMemory from "../src/layers/TransportMemory.js"
import * as BackfillCoordinator from "../src/services/BackfillCoordinator.js"
import { Library } from "../src/services/Library.js"
import { LibraryStore } from "../src/services/LibraryStore.js"
import { reconcile } from "../src/services/Reconcile.js"
import { SyncMetrics } from "../src/services/SyncMetrics.js"
import { PeerTransport } from "../src/services/PeerTransport.js"
import * as SyncServer from "../src/services/SyncServer.js"
import { deviceA, deviceB, deviceC, entryFields, uuidN } from "./support/fixtures.js"
import * as Sim from "./support/sim.js"

const writeEntries = (ctx: Sim.Ctx, from: number, count: number, name = "file") =>
  Effect.provide(
    Effect.flatMap(Library, (l) =>
      l.write(
        "entry",
        Array.from({ length: count }, (_, i) => ({
          uuid: uuidN(1_000_000 + from + i),
          fields: { ...entryFields(from + i, uuidN(1)), name: `${name}-${from + i}` }
        }))
      )
    ),
    ctx
  )

const received = (ctx: Sim.Ctx) =>
  Effect.provide(
    Effect.map(
      Effect.flatMap(SyncMetrics, (m) => m.counters),
      (c) => [...c.values()].reduce((n, p) => n + p.recordsReceived, 0)
    ),
    ctx
  )
const { entryCount: count, sentTo } = Sim

const uuidArb = fc.uuid().map((u) => u.toLowerCase())

describe("fingerprints and reconciliation", () => {
  it.prop(
    "splitting a range covers it exactly: every uuid in it falls in exactly one part",
    [uuidArb, fc.integer({ min: 0, max: 36 }), fc.array(uuidArb, { maxLength: 20 })],
    ([a, length, probes]) => {
      const range = length === 0 ? Fingerprint.FULL_RANGE : Fingerprint.prefixRange(a.slice(0, length))
      const parts = Fingerprint.split(range)
      for (const u of [...probes, a]) {
        const inside = u >= range.lo && u < range.hi
        expect(parts.filter((p) => u >= p.lo && u < p.hi).length).toBe(inside ? 1 : 0)
      }
    }
  )

  it.live("reconciling pulls only the ranges that differ, and afterwards holds every row the peer had", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* Layer.build(Sim.networkLayer)
        const a = yield* Sim.device(net, deviceA)
        const b = yield* Sim.device(net, deviceB)
        yield* writeEntries(a, 0, 5_000)
        // B got the same rows from elsewhere (applied as they are), except a few A changed since, and the last 20.
        const rows = yield* Effect.provide(
          Effect.flatMap(LibraryStore, (s) => s.readAfter("entry", 0, 10_000)),
          a
        )
        yield* Effect.provide(
          Effect.flatMap(Library, (l) => l.applyRemote("entry", rows.slice(0, 4_980))),
          b
        )
        yield* writeEntries(a, 100, 10, "changed")
        const handler = yield* Effect.provide(SyncServer.makeHandler(), a)
        yield* Effect.provide(
          Effect.flatMap(PeerTransport, (t) => t.listen("memory:a", handler)),
          a
        )
        const conn = yield* Effect.provide(
          Effect.flatMap(PeerTransport, (t) => t.connect("memory:a")),
          b
        )
        const result = yield* Effect.provide(reconcile(conn, "entry", 100), b)
        expect(result.pulled).toBeGreaterThanOrEqual(30)
        expect(result.pulled).toBeLessThan(1_000)
        expect(yield* Sim.dump(b)).toEqual(yield* Sim.dump(a))
        const again = yield* Effect.provide(reconcile(conn, "entry", 100), b)
        expect(again).toMatchObject({ pulled: 0, differingRanges: 0 })
      })
    )
  )
})

describe("several peers", () => {
  it.live("the coordinator gives two waiting peers different kinds", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const coordinator = yield* BackfillCoordinator.make(20)
        const order: Array<string> = []
        yield* Effect.all(
          [
            Effect.zipRight(
              coordinator.turn("location", deviceA),
              Effect.sync(() => order.push(`location:${deviceA}`))
            ),
            Effect.zipRight(
              coordinator.turn("entry", deviceA),
              Effect.sync(() => order.push(`entry:${deviceA}`))
            ),
            Effect.zipRight(
              coordinator.turn("location", deviceC),
              Effect.sync(() => order.push(`location:${deviceC}`))
            ),
            Effect.zipRight(
              coordinator.turn("entry", deviceC),
              Effect.sync(() => order.push(`entry:${deviceC}`))
            )
          ].map((e) => Effect.forkScoped(e)),
          { concurrency: "unbounded" }
        )
        yield* Effect.sleep("500 millis")
        const owners = new Set(order.map((o) => o.split(":")[1]))
        expect(order).toHaveLength(2)
        expect(owners.size).toBe(2)
      })
    )
  )

  it.live(
    "a new device with two peers holding the same library pulls it about once, each peer serving one kind",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const net = yield* Layer.build(Sim.networkLayer)
          const a = yield* Sim.device(net, deviceA)
          const c = yield* Sim.device(net, deviceC)
          const b = yield* Sim.device(net, deviceB)
          yield* Effect.provide(
            Effect.flatMap(Library, (l) =>
              l.write(
                "location",
                Array.from({ length: 1_000 }, (_, i) => ({
                  uuid: uuidN(i + 1),
                  fields: { volume: null, path: `/l${i}`, name: `l${i}` }
                }))
              )
            ),
            a
          )
          yield* writeEntries(a, 0, 3_000)
          // Time enough for both peers to connect before the kinds are handed out, however loaded the machine.
          // Kinds are not split by uuid range unless asked (SplitBackfill.test.ts): each goes to one peer.
          const options = { ...Sim.fastOptions, batchSize: 500, spreadSettleMillis: 500 }
          yield* Sim.startEngine(a, "memory:a", [])
          yield* Sim.startEngine(c, "memory:c", ["memory:a"], options)
          yield* Sim.converged([a, c], (l) => l.length === 4_000)
          yield* Sim.startEngine(b, "memory:b", ["memory:a", "memory:c"], options)
          yield* Sim.converged([a, b, c], (l) => l.length === 4_000)
          yield* Effect.sleep("100 millis")
          // One kind from each peer (at least the 1,000 locations from one, the 3,000 entries from the other),
          // and the library about once in all.
          const [fromA, fromC] = [yield* sentTo(a, deviceB), yield* sentTo(c, deviceB)]
          expect(Math.min(fromA, fromC)).toBeGreaterThanOrEqual(1_000)
          expect(Math.max(fromA, fromC)).toBeGreaterThanOrEqual(3_000)
          expect(yield* received(b)).toBeLessThanOrEqual(4_000 * 1.1)
        })
      )
  )

  it.live(
    "when the peer backfilling a kind disconnects, another peer finishes it without starting over",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const net = yield* Layer.build(Sim.networkLayer)
          const a = yield* Sim.device(net, deviceA)
          const c = yield* Sim.device(net, deviceC)
          const b = yield* Sim.device(net, deviceB)
          yield* writeEntries(a, 0, 6_000)
          yield* Sim.startEngine(a, "memory:a", [])
          yield* Sim.startEngine(c, "memory:c", ["memory:a"], { ...Sim.fastOptions, batchSize: 1_000 })
          yield* Sim.converged([a, c], (l) => l.length === 6_000)
          // Cut B from whichever peer serves its third page of entries.
          let pages = 0
          yield* Effect.provide(
            Effect.flatMap(TransportMemory.MemoryNetwork, (n) =>
              n.intercept((request, from, to) => {
                if (from !== deviceB || request._tag !== "Pull" || request.resource !== "entry")
                  return Effect.void
                pages += 1
                return pages === 3
                  ? n.partition([[deviceB, to === deviceA ? deviceC : deviceA], [to]])
                  : Effect.void
              })
            ),
            net
          )
          const run = yield* Scope.make()
          yield* Scope.extend(
            // One peer backfills the kind: no split unless asked (a split's hand-over is in SplitBackfill.test.ts).
            Sim.startEngine(b, "memory:b", ["memory:a", "memory:c"], {
              ...Sim.fastOptions,
              batchSize: 1_000
            }),
            run
          )
          yield* Sim.converged([a, b], (l) => l.length === 6_000)
          expect(yield* count(b)).toBe(6_000)
          // The pages before the cut, the rest once from the other peer, plus at most about a page that
          // reconciliation pulls again with the ranges that differ: far from restarting (6,000 more).
          expect(yield* received(b)).toBeLessThanOrEqual(6_000 + 1_000)
          const fromA = yield* sentTo(a, deviceB)
          const fromC = yield* sentTo(c, deviceB)
          expect(fromA).toBeGreaterThan(0)
          expect(fromC).toBeGreaterThan(0)
          yield* Scope.close(run, Exit.void)
        })
      )
  )
})
