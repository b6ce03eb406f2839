import { describe, expect, it } from "@effect/vitest"
import { type Context, Deferred, Effect, Exit, Layer, Logger, LogLevel, Scope } from "effect"
import type { DeviceId } from "../src/domain/Ids.js"
import { Uuid } from "../src/domain/Ids.js"
import * as TransportMemory from "../src/layers/TransportMemory.js"
import { Library } from "../src/services/Library.js"
import { LibraryStore } from "../src/services/LibraryStore.js"
import { SharedLog } from "../src/services/SharedLog.js"
import * as SyncEngine from "../src/services/SyncEngine.js"
import { SyncMetrics } from "../src/services/SyncMetrics.js"
import { WatermarkStore } from "../src/services/WatermarkStore.js"
import { deviceA, deviceB, deviceC, entryFields, uuidN } from "./support/fixtures.js"
import * as Sim from "./support/sim.js"
import { tempDir } from "./support/tempDir.js"

type Ctx = Sim.Ctx
const options = (batchSize: number) => ({ ...Sim.fastOptions, batchSize })

const run = <A, E>(ctx: Ctx, effect: Effect.Effect<A, E, Sim.DeviceContext>) => Effect.provide(effect, ctx)

const writeLocations = (ctx: Ctx, from: number, count: number) =>
  run(
    ctx,
    Effect.flatMap(Library, (l) =>
      l.write(
        "location",
        Array.from({ length: count }, (_, i) => ({
          uuid: uuidN(from + i),
          fields: { volume: null, path: `/loc-${from + i}`, name: `loc-${from + i}` }
        }))
      )
    )
  )

const writeEntries = (ctx: Ctx, from: number, count: number) =>
  run(
    ctx,
    Effect.gen(function* () {
      const library = yield* Library
      for (let start = 0; start < count; start += 5_000) {
        const n = Math.min(5_000, count - start)
        yield* library.write(
          "entry",
          Array.from({ length: n }, (_, i) => ({
            uuid: uuidN(1_000_000 + from + start + i),
            fields: entryFields(from + start + i, uuidN(1))
          }))
        )
      }
    })
  )

const writeTags = (ctx: Ctx, from: number, count: number) =>
  run(
    ctx,
    Effect.flatMap(Library, (l) =>
      l.write(
        "tag",
        Array.from({ length: count }, (_, i) => ({
          uuid: uuidN(500_000 + from + i),
          fields: { name: `tag-${from + i}`, color: null }
        }))
      )
    )
  )

const count = (ctx: Ctx, resource: "location" | "entry" | "tag") =>
  run(
    ctx,
    Effect.flatMap(LibraryStore, (s) => s.countAfter(resource, 0))
  )

const received = (ctx: Ctx, peer: DeviceId) =>
  run(
    ctx,
    Effect.map(
      Effect.flatMap(SyncMetrics, (m) => m.counters),
      (c) => c.get(peer)?.recordsReceived ?? 0
    )
  )

/** Start an engine in its own scope, so a test can stop it (an interruption) and start it again. */
const startStoppable = (ctx: Ctx, listen: string, peers: ReadonlyArray<string>, batchSize: number) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    yield* Scope.extend(Sim.startEngine(ctx, listen, peers, options(batchSize)), scope)
    return Scope.close(scope, Exit.void)
  })

const waitUntil = (what: string, condition: Effect.Effect<boolean, unknown>) =>
  Effect.gen(function* () {
    while (!(yield* condition)) yield* Effect.sleep("5 millis")
  }).pipe(
    Effect.timeoutFail({
      duration: "30 seconds",
      onTimeout: () => new Error(`timed out waiting for ${what}`)
    })
  )

const onNetwork = <A>(
  net: Context.Context<TransportMemory.MemoryNetwork>,
  f: (n: TransportMemory.MemoryNetwork["Type"]) => Effect.Effect<A>
) => Effect.provide(Effect.flatMap(TransportMemory.MemoryNetwork, f), net)

/** Partition A from B the moment B asks for the `n`th page of entries (so exactly n - 1 were delivered). */
const cutAtEntryPage = (net: Context.Context<TransportMemory.MemoryNetwork>, n: number) => {
  let pages = 0
  return onNetwork(net, (network) =>
    network.intercept((request) => {
      if (request._tag !== "Pull" || request.resource !== "entry") return Effect.void
      pages += 1
      return pages === n ? network.partition([[deviceA], [deviceB]]) : Effect.void
    })
  )
}

describe("backfill and catch-up", () => {
  it.live("the original bug: a disconnect after the third batch of entries loses no location", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* Layer.build(Sim.networkLayer)
        const a = yield* Sim.device(net, deviceA)
        const b = yield* Sim.device(net, deviceB)
        yield* writeLocations(a, 1, 10)
        yield* writeEntries(a, 0, 30_000)
        // Cut when B asks for the fifth page: it asks one page ahead, so it then holds three pages, or four
        // when it got to apply the one in hand before the session ended.
        yield* cutAtEntryPage(net, 5)
        yield* Sim.startEngine(a, "memory:a", [])
        yield* Sim.startEngine(b, "memory:b", ["memory:a"], options(1_000))
        yield* waitUntil(
          "three batches",
          Effect.map(count(b, "entry"), (n) => n >= 3_000)
        )
        yield* Effect.sleep("50 millis")
        expect([3_000, 4_000]).toContain(yield* count(b, "entry"))
        // Per-resource watermarks: each (peer, resource) at its own position, the entry one mid-way.
        const marks = yield* run(
          b,
          Effect.flatMap(WatermarkStore, (w) => w.list)
        )
        const lastEntrySeq = yield* run(
          a,
          Effect.flatMap(LibraryStore, (s) => s.lastSeq("entry"))
        )
        const locationMark = marks.find((m) => m.peer === deviceA && m.resource === "location")!
        const entryMark = marks.find((m) => m.peer === deviceA && m.resource === "entry")!
        expect(locationMark.watermark).not.toBe(entryMark.watermark)
        expect(entryMark.watermark).toBeLessThan(lastEntrySeq)
        expect(entryMark.watermark).toBeGreaterThan(0)
        yield* onNetwork(net, (n) => n.heal)
        yield* waitUntil(
          "all entries",
          Effect.map(count(b, "entry"), (n) => n === 30_000)
        )
        expect(yield* count(b, "location")).toBe(10)
        expect(yield* Sim.dump(b)).toEqual(yield* Sim.dump(a))
      })
    )
  )

  it.live("catch-up is started by the watermark exchange and moves exactly the rows that were missed", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* Layer.build(Sim.networkLayer)
        const a = yield* Sim.device(net, deviceA)
        const b = yield* Sim.device(net, deviceB)
        yield* writeLocations(a, 1, 100)
        yield* writeTags(a, 0, 50)
        yield* Sim.startEngine(a, "memory:a", [])
        const stopB = yield* startStoppable(b, "memory:b", ["memory:a"], 1_000)
        yield* waitUntil(
          "the first sync",
          Effect.map(Effect.all([count(b, "location"), count(b, "tag")]), ([l, t]) => l === 100 && t === 50)
        )
        yield* stopB
        const before = yield* received(b, deviceA)
        expect(before).toBe(150)
        yield* writeLocations(a, 101, 10)
        yield* writeTags(a, 50, 10)
        yield* startStoppable(b, "memory:b", ["memory:a"], 1_000)
        yield* waitUntil(
          "catch-up",
          Effect.map(Effect.all([count(b, "location"), count(b, "tag")]), ([l, t]) => l === 110 && t === 60)
        )
        // 10 locations from the table, 10 tags from the shared log: nothing else travelled.
        yield* waitUntil(
          "the counters",
          Effect.map(received(b, deviceA), (n) => n - before >= 20)
        )
        yield* Effect.sleep("100 millis")
        expect((yield* received(b, deviceA)) - before).toBe(20)
      })
    )
  )

  it.live(
    "when the shared log B needs was pruned, B falls back to a state transfer and still gets every tag",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const net = yield* Layer.build(Sim.networkLayer)
          const a = yield* Sim.device(net, deviceA)
          const b = yield* Sim.device(net, deviceB)
          yield* writeTags(a, 0, 50)
          yield* Sim.startEngine(a, "memory:a", [])
          const stopB = yield* startStoppable(b, "memory:b", ["memory:a"], 1_000)
          yield* waitUntil(
            "the first sync",
            Effect.map(count(b, "tag"), (t) => t === 50)
          )
          yield* stopB
          yield* writeTags(a, 50, 10)
          // A prunes everything it holds in its log, as a retention limit would for a silent device.
          const pruned = yield* run(
            a,
            Effect.flatMap(SharedLog, (log) => log.prune([], 0))
          )
          // B acknowledged the first 50 when it synced, so A may already have pruned those itself.
          expect(pruned).toBeGreaterThanOrEqual(10)
          expect(
            (yield* run(
              a,
              Effect.flatMap(SharedLog, (log) => log.bounds)
            )).count
          ).toBe(0)
          yield* startStoppable(b, "memory:b", ["memory:a"], 1_000)
          yield* waitUntil(
            "the fallback",
            Effect.map(count(b, "tag"), (t) => t === 60)
          )
          expect(yield* Sim.dump(b)).toEqual(yield* Sim.dump(a))
        })
      )
  )

  it.live("rows written before sync was ever enabled are part of the backfill", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* Layer.build(Sim.networkLayer)
        const a = yield* Sim.device(net, deviceA)
        const b = yield* Sim.device(net, deviceB)
        yield* writeLocations(a, 1, 3)
        yield* writeEntries(a, 0, 500)
        yield* writeTags(a, 0, 5)
        yield* Sim.startEngine(a, "memory:a", [])
        yield* Sim.startEngine(b, "memory:b", ["memory:a"], options(100))
        yield* Sim.converged([a, b], (l) => l.length === 508)
      })
    )
  )

  it.live("50 locations and 12,000 entries backfilled, then 3,000 more entries caught up", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* Layer.build(Sim.networkLayer)
        const a = yield* Sim.device(net, deviceA)
        const b = yield* Sim.device(net, deviceB)
        yield* writeLocations(a, 1, 50)
        yield* writeEntries(a, 0, 12_000)
        yield* Sim.startEngine(a, "memory:a", [])
        yield* Sim.startEngine(b, "memory:b", ["memory:a"], options(1_000))
        yield* waitUntil(
          "the backfill",
          Effect.map(count(b, "entry"), (n) => n === 12_000)
        )
        yield* writeEntries(a, 12_000, 3_000)
        yield* waitUntil(
          "the catch-up",
          Effect.map(count(b, "entry"), (n) => n === 15_000)
        )
        expect(yield* count(b, "location")).toBe(50)
        expect(yield* Sim.dump(b)).toEqual(yield* Sim.dump(a))
      })
    )
  )

  it.live(
    "C backfills A's data from B while A is offline; A comes back with new writes; all three converge",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const net = yield* Layer.build(Sim.networkLayer)
          const a = yield* Sim.device(net, deviceA)
          const b = yield* Sim.device(net, deviceB)
          const c = yield* Sim.device(net, deviceC)
          yield* writeLocations(a, 1, 20)
          yield* writeEntries(a, 0, 2_000)
          yield* writeTags(a, 0, 10)
          const stopA = yield* startStoppable(a, "memory:a", [], 500)
          yield* Sim.startEngine(b, "memory:b", ["memory:a"], options(500))
          yield* Sim.converged([a, b], (l) => l.length === 2_030)
          yield* stopA
          yield* Sim.startEngine(c, "memory:c", ["memory:b", "memory:a"], options(500))
          yield* Sim.converged([b, c], (l) => l.length === 2_030)
          yield* writeEntries(a, 2_000, 100)
          yield* writeTags(a, 10, 5)
          yield* startStoppable(a, "memory:a", [], 500)
          yield* Sim.converged([a, b, c], (l) => l.length === 2_135)
        })
      )
  )
})

describe("interrupted backfills resume", () => {
  it.live("stopped after 5,000 of 12,000 entries and restarted, it resumes where it stopped", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* Layer.build(Sim.networkLayer)
        const dir = yield* tempDir()
        const a = yield* Sim.device(net, deviceA)
        yield* writeLocations(a, 1, 5)
        yield* writeEntries(a, 0, 12_000)
        yield* Sim.startEngine(a, "memory:a", [])

        const firstRun = yield* Scope.make()
        const b1 = yield* Scope.extend(Sim.deviceOnDisk(net, deviceB, dir), firstRun)
        // Stop B's engine (interrupting its fibers) when it asks for the sixth page of entries.
        let pages = 0
        const stopped = yield* Deferred.make<void>()
        yield* onNetwork(net, (network) =>
          network.intercept((request) => {
            if (request._tag !== "Pull" || request.resource !== "entry") return Effect.void
            pages += 1
            return pages === 6
              ? Effect.zipRight(Deferred.succeed(stopped, undefined), Effect.never)
              : Effect.void
          })
        )
        yield* Scope.extend(Sim.startEngine(b1, "memory:b", ["memory:a"], options(1_000)), firstRun)
        yield* Deferred.await(stopped)
        yield* Scope.close(firstRun, Exit.void)
        yield* onNetwork(net, (network) => network.intercept(() => Effect.void))

        const b2 = yield* Sim.deviceOnDisk(net, deviceB, dir)
        const held = yield* count(b2, "entry")
        // Stopped when it asked for the sixth page (one ahead of the fifth): five pages, or four when the
        // stop came before the fifth was applied — either way resumed from there below.
        expect([4_000, 5_000]).toContain(held)
        const receivedBefore = yield* received(b2, deviceA)
        yield* Sim.startEngine(b2, "memory:b", ["memory:a"], options(1_000))
        yield* waitUntil(
          "all entries",
          Effect.map(count(b2, "entry"), (n) => n === 12_000)
        )
        const total = yield* received(b2, deviceA)
        // Everything once, plus at most one page again per stream.
        expect(total).toBeLessThanOrEqual(12_005 + 1_000 * 2)
        expect(total - receivedBefore).toBeLessThanOrEqual(12_000 - held + 1_000)
        expect(yield* Sim.dump(b2)).toEqual(yield* Sim.dump(a))
      })
    )
  )
})

void Uuid

describe("backfill progress", () => {
  it.live("a long backfill says in the log how far it is: percent, rows, rate", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* Layer.build(Sim.networkLayer)
        const a = yield* Sim.device(net, deviceA)
        const b = yield* Sim.device(net, deviceB)
        yield* writeLocations(a, 1, 1)
        yield* writeEntries(a, 0, 3_000)
        yield* Sim.startEngine(a, "memory:a", [])
        const lines: Array<string> = []
        const capture = Logger.make(({ message }) => {
          lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
        })
        yield* SyncEngine.start({
          listen: "memory:b",
          peers: ["memory:a"],
          options: { ...Sim.fastOptions, batchSize: 500, progressLogMillis: 0 }
        }).pipe(
          Effect.provide(b),
          Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
          Logger.withMinimumLogLevel(LogLevel.Info)
        )
        yield* waitUntil(
          "the backfill",
          Effect.map(count(b, "entry"), (n) => n === 3_000)
        )
        const progress = lines.filter((l) => l.startsWith("Backfilling entry from"))
        expect(progress.length).toBeGreaterThan(0)
        expect(progress[0]).toMatch(/: \d+% \(\d+ of 3000/)
        expect(lines.some((l) => l.startsWith("Caught up on entry"))).toBe(true)
        expect(lines.some((l) => /^Connected to .*: 1 location row, 3000 entry rows to pull$/.test(l))).toBe(
          true
        )
        // Kinds with nothing to transfer say nothing about percentages.
        expect(lines.filter((l) => l.includes("(0 of 0"))).toEqual([])
      })
    )
  )
})
