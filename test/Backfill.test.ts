import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Logger, LogLevel, Scope } from "effect"
import { StoreError } from "../src/domain/Errors.js"
import type { DeviceId } from "../src/domain/Ids.js"
import { FileLibraryCatalog } from "../src/domain/FileLibrary.js"
import * as TransportMemory from "../src/layers/TransportMemory.js"
import { Library } from "../src/services/Library.js"
import { LibraryStore } from "../src/services/LibraryStore.js"
import { SharedLog } from "../src/services/SharedLog.js"
import * as SyncEngine from "../src/services/SyncEngine.js"
import { SyncMetrics } from "../src/services/SyncMetrics.js"
import { deviceA, deviceB, deviceC, entryFields, uuidN } from "./support/fixtures.js"
import * as Probe from "./support/probe.js"
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

const count = (ctx: Ctx, resource: "location" | "entry" | "tag" | "tag_assignment") =>
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

const sent = (ctx: Ctx, peer: DeviceId) =>
  run(
    ctx,
    Effect.map(
      Effect.flatMap(SyncMetrics, (m) => m.counters),
      (c) => c.get(peer)?.recordsSent ?? 0
    )
  )

/**
 * Watch B's requests; the returned check holds once B has asked A with a wait (live) for every kind: every
 * stream then has its first sync committed, transfers and counters included.
 */
const liveOnEveryKind = (net: Context.Context<TransportMemory.MemoryNetwork>) => {
  const live = new Set<string>()
  return Effect.as(
    onNetwork(net, (network) =>
      network.intercept((request, from) =>
        Effect.sync(() => {
          if (
            from === deviceB &&
            (request._tag === "Pull" || request._tag === "PullLog") &&
            request.waitMillis > 0
          )
            live.add(request.resource)
        })
      )
    ),
    Effect.sync(() => FileLibraryCatalog.names.every((r) => live.has(r)))
  )
}

/** A logger that keeps every message as a line, to look for in `lines`. */
const capturedLog = () => {
  const lines: Array<string> = []
  const capture = Logger.make(({ message }) => {
    lines.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
  })
  return { lines, logger: Logger.replace(Logger.defaultLogger, capture) }
}

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

/**
 * Lose B's request for the `n`th page of entries (it never reaches A), so B ends up holding exactly n - 1
 * pages: it asks one page ahead, and applies the page in hand while the lost request waits.
 */
const loseEntryPage = (net: Context.Context<TransportMemory.MemoryNetwork>, n: number) => {
  let pages = 0
  return onNetwork(net, (network) =>
    network.intercept((request) => {
      if (request._tag !== "Pull" || request.resource !== "entry") return Effect.void
      pages += 1
      return pages === n ? Effect.never : Effect.void
    })
  )
}

/** The seq on A of its `n`th entry: where B's entry watermark stands once it holds n entries. */
const seqOfEntry = (ctx: Ctx, n: number) =>
  run(
    ctx,
    Effect.map(
      Effect.flatMap(LibraryStore, (s) => s.readAfter("entry", 0, n)),
      (rows) => rows[n - 1]!.seq
    )
  )

describe("backfill and catch-up", () => {
  it.live("the original bug: a disconnect after the third batch of entries loses no location", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* Layer.build(Sim.networkLayer)
        const dirB = yield* tempDir()
        const a = yield* Sim.device(net, deviceA)
        const b = yield* Sim.deviceOnDisk(net, deviceB, dirB)
        yield* writeLocations(a, 1, 10)
        yield* writeEntries(a, 0, 30_000)
        yield* loseEntryPage(net, 4)
        yield* Sim.startEngine(a, "memory:a", [])
        yield* Sim.startEngine(b, "memory:b", ["memory:a"], options(1_000))
        yield* waitUntil(
          "three batches",
          Effect.map(count(b, "entry"), (n) => n === 3_000)
        )
        // The connection dies after the third batch (its watermark and counters committed).
        yield* waitUntil(
          "the third batch's progress",
          Effect.map(received(b, deviceA), (n) => n === 3_010)
        )
        yield* onNetwork(net, (n) => n.partition([[deviceA], [deviceB]]))
        expect(yield* count(b, "entry")).toBe(3_000)
        expect(yield* count(b, "location")).toBe(10)
        // Per-resource watermarks, as sync.db holds them: one row per (peer, resource), each at its own
        // position: the location one at A's last location, the entry one at A's 3,000th entry.
        const marks = (yield* Probe.watermarks(dirB)).filter((m) => m.peer === deviceA)
        const markOf = (resource: string) => marks.find((m) => m.resource === resource)?.watermark
        expect(markOf("location")).toBe(
          yield* run(
            a,
            Effect.flatMap(LibraryStore, (s) => s.lastSeq("location"))
          )
        )
        expect(markOf("entry")).toBe(yield* seqOfEntry(a, 3_000))
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
        const firstSyncDone = yield* liveOnEveryKind(net)
        let stopB = yield* startStoppable(b, "memory:b", ["memory:a"], 1_000)
        yield* waitUntil("the first sync", firstSyncDone)
        yield* stopB
        expect(yield* received(b, deviceA)).toBe(150)
        const requests: Array<string> = []
        yield* onNetwork(net, (network) =>
          network.intercept((request, from) =>
            Effect.sync(() => {
              if (from === deviceB && (request._tag === "Pull" || request._tag === "PullLog")) {
                requests.push(
                  `${request._tag} ${request.resource} ${request.waitMillis > 0 ? "wait" : "now"}`
                )
              }
            })
          )
        )
        /** Restart B after `write` and return how many rows A sent and B received until it caught up. */
        const catchUp = (write: Effect.Effect<unknown, unknown>, caughtUp: Effect.Effect<boolean, unknown>) =>
          Effect.gen(function* () {
            const [sentBefore, receivedBefore] = [yield* sent(a, deviceB), yield* received(b, deviceA)]
            yield* write
            requests.length = 0
            stopB = yield* startStoppable(b, "memory:b", ["memory:a"], 1_000)
            yield* waitUntil("catch-up", caughtUp)
            yield* Effect.sleep("100 millis")
            yield* stopB
            return {
              sent: (yield* sent(a, deviceB)) - sentBefore,
              received: (yield* received(b, deviceA)) - receivedBefore,
              // What B asked for at once (not as a live wait) from a kind it had pulled from before.
              asked: requests.filter((r) => r.endsWith(" now") && !/^Pull (entry|volume|device) /.test(r))
            }
          })
        // A adds 10 locations: exactly those 10 rows travel, from the location table; every other kind the
        // exchange found up to date starts with a live wait instead of a pull. (A holds no entries, volumes
        // or devices: B's streams of those start from zero and ask at once, finding nothing.)
        expect(
          yield* catchUp(
            writeLocations(a, 101, 10),
            Effect.map(count(b, "location"), (l) => l === 110)
          )
        ).toEqual({ sent: 10, received: 10, asked: ["Pull location now"] })
        // A adds 10 tags: exactly 10 entries of A's shared log travel; the tag table is not transferred again.
        expect(
          yield* catchUp(
            writeTags(a, 50, 10),
            Effect.map(count(b, "tag"), (t) => t === 60)
          )
        ).toEqual({ sent: 10, received: 10, asked: ["PullLog tag now"] })
        expect(yield* Sim.dump(b)).toEqual(yield* Sim.dump(a))
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
          const firstSyncDone = yield* liveOnEveryKind(net)
          const stopB = yield* startStoppable(b, "memory:b", ["memory:a"], 1_000)
          yield* waitUntil("the first sync", firstSyncDone)
          expect(yield* count(b, "tag")).toBe(50)
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
          const before = yield* received(b, deviceA)
          yield* startStoppable(b, "memory:b", ["memory:a"], 1_000)
          yield* waitUntil(
            "the fallback",
            Effect.map(count(b, "tag"), (t) => t === 60)
          )
          yield* Effect.sleep("100 millis")
          // The fallback transferred the state of A's tag table: all 60 tags, once.
          expect((yield* received(b, deviceA)) - before).toBe(60)
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
        // Written straight into A's database.db, as a library that predates sync holds them: no shared-log
        // entry, no watermark, no checkpoint anywhere.
        yield* run(
          a,
          Effect.gen(function* () {
            const store = yield* LibraryStore
            yield* store.writeLocal(
              "location",
              [1, 2, 3].map((n) => ({
                uuid: uuidN(n),
                fields: { volume: null, path: `/l${n}`, name: `l${n}` }
              }))
            )
            yield* store.writeLocal(
              "entry",
              Array.from({ length: 500 }, (_, i) => ({
                uuid: uuidN(1_000_000 + i),
                fields: entryFields(i, uuidN(1))
              }))
            )
            yield* store.writeLocal(
              "tag",
              Array.from({ length: 5 }, (_, i) => ({
                uuid: uuidN(500_000 + i),
                fields: { name: `tag-${i}`, color: null }
              }))
            )
          })
        )
        expect(
          (yield* run(
            a,
            Effect.flatMap(SharedLog, (log) => log.bounds)
          )).count
        ).toBe(0)
        yield* Sim.startEngine(a, "memory:a", [])
        yield* Sim.startEngine(b, "memory:b", ["memory:a"], options(100))
        yield* Sim.converged([a, b], (l) => l.length === 508)
      })
    )
  )

  it.live("kinds are pulled in parallel: entries that arrive before their location are kept", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* Layer.build(Sim.networkLayer)
        const a = yield* Sim.device(net, deviceA)
        const b = yield* Sim.device(net, deviceB)
        yield* writeLocations(a, 1, 5)
        yield* writeEntries(a, 0, 2_000)
        yield* writeTags(a, 0, 5)
        yield* run(
          a,
          Effect.flatMap(Library, (l) =>
            l.write(
              "tag_assignment",
              [0, 1, 2].map((i) => ({
                uuid: uuidN(900_000 + i),
                fields: { tag: uuidN(500_000 + i), entry: uuidN(1_000_000 + i) }
              }))
            )
          )
        )
        // Hold every location and tag request of B until its entries and assignments are all in.
        const gate = yield* Deferred.make<void>()
        yield* onNetwork(net, (network) =>
          network.intercept((request, from) =>
            from === deviceB && "resource" in request && ["location", "tag"].includes(request.resource)
              ? Deferred.await(gate)
              : Effect.void
          )
        )
        yield* Sim.startEngine(a, "memory:a", [])
        yield* Sim.startEngine(b, "memory:b", ["memory:a"], options(500))
        yield* waitUntil(
          "entries and assignments",
          Effect.map(
            Effect.all([count(b, "entry"), count(b, "tag_assignment")]),
            ([e, t]) => e === 2_000 && t === 3
          )
        )
        expect(yield* count(b, "location")).toBe(0)
        expect(yield* count(b, "tag")).toBe(0)
        yield* Deferred.succeed(gate, undefined)
        yield* Sim.converged([a, b], (l) => l.length === 2_013)
      })
    )
  )

  it.live(
    "an apply that fails mid-backfill moves no cursor: the page is pulled again and no entry is lost",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const net = yield* Layer.build(Sim.networkLayer)
          const a = yield* Sim.device(net, deviceA)
          const built = yield* Sim.device(net, deviceB)
          // B's Library fails the third entry page once, as a crash between the apply and its commit would.
          const library = Context.get(built, Library)
          let entryPages = 0
          const b = Context.add(built, Library, {
            ...library,
            applyRemote: (resource, rows) =>
              resource === "entry" && ++entryPages === 3
                ? Effect.fail(
                    new StoreError({ store: "database.db", operation: "apply", reason: "injected" })
                  )
                : library.applyRemote(resource, rows)
          })
          yield* writeLocations(a, 1, 1)
          yield* writeEntries(a, 0, 5_000)
          yield* Sim.startEngine(a, "memory:a", [])
          yield* Sim.startEngine(b, "memory:b", ["memory:a"], options(1_000))
          yield* waitUntil(
            "the backfill",
            Effect.map(count(b, "entry"), (n) => n === 5_000)
          )
          expect(entryPages).toBeGreaterThan(5)
          expect(yield* Sim.dump(b)).toEqual(yield* Sim.dump(a))
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
        // The counters are committed just after the page they count.
        yield* waitUntil(
          "the counters",
          Effect.map(received(b, deviceA), (n) => n === 12_050)
        )
        const before = yield* received(b, deviceA)
        yield* writeEntries(a, 12_000, 3_000)
        yield* waitUntil(
          "the catch-up",
          Effect.map(count(b, "entry"), (n) => n === 15_000)
        )
        expect(yield* count(b, "location")).toBe(50)
        yield* waitUntil(
          "the counters",
          Effect.map(received(b, deviceA), (n) => n - before >= 3_000)
        )
        yield* Effect.sleep("100 millis")
        expect((yield* received(b, deviceA)) - before).toBe(3_000)
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
  it.live("stopped after 5,000 of 12,000 entries and restarted, it resumes at the 5,001st", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* Layer.build(Sim.networkLayer)
        const dir = yield* tempDir()
        const a = yield* Sim.device(net, deviceA)
        yield* writeLocations(a, 1, 5)
        yield* writeEntries(a, 0, 12_000)
        yield* Sim.startEngine(a, "memory:a", [])

        // First run: B's request for the sixth page of entries is lost, so B holds exactly five pages when its
        // engine is stopped (its fibers interrupted) and its stores closed.
        const firstRun = yield* Scope.make()
        const b1 = yield* Scope.extend(Sim.deviceOnDisk(net, deviceB, dir), firstRun)
        yield* loseEntryPage(net, 6)
        yield* Scope.extend(Sim.startEngine(b1, "memory:b", ["memory:a"], options(1_000)), firstRun)
        yield* waitUntil(
          "five pages",
          Effect.map(count(b1, "entry"), (n) => n === 5_000)
        )
        yield* Effect.sleep("50 millis")
        yield* Scope.close(firstRun, Exit.void)

        // Restart from the files: the first entry request starts after A's 5,000th entry.
        const entryPulls: Array<number> = []
        yield* onNetwork(net, (network) =>
          network.intercept((request) =>
            Effect.sync(() => {
              if (request._tag === "Pull" && request.resource === "entry") entryPulls.push(request.after)
            })
          )
        )
        const b2 = yield* Sim.deviceOnDisk(net, deviceB, dir)
        expect(yield* count(b2, "entry")).toBe(5_000)
        const receivedBefore = yield* received(b2, deviceA)
        expect(receivedBefore).toBe(5_005)
        const sentBefore = yield* sent(a, deviceB)
        yield* Sim.startEngine(b2, "memory:b", ["memory:a"], options(1_000))
        yield* waitUntil(
          "all entries",
          Effect.map(count(b2, "entry"), (n) => n === 12_000)
        )
        yield* Effect.sleep("100 millis")
        expect(entryPulls[0]).toBe(yield* seqOfEntry(a, 5_000))
        // After the restart exactly the 7,000 missing entries travelled, and in all every row once: within
        // the bound of 12,000 plus one batch per stream.
        expect((yield* sent(a, deviceB)) - sentBefore).toBe(7_000)
        expect(yield* received(b2, deviceA)).toBe(12_005)
        expect(yield* Sim.dump(b2)).toEqual(yield* Sim.dump(a))
      })
    )
  )
})

describe("a session that dies of a defect", () => {
  it.live("is logged, reconnects and finishes the backfill", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* Layer.build(Sim.networkLayer)
        const a = yield* Sim.device(net, deviceA)
        const b = yield* Sim.device(net, deviceB)
        yield* writeLocations(a, 1, 2)
        yield* writeEntries(a, 0, 3_000)
        // B's third request for entries dies, as a bug or a failed COMMIT would.
        let pages = 0
        yield* onNetwork(net, (network) =>
          network.intercept((request, from) => {
            if (from !== deviceB || request._tag !== "Pull" || request.resource !== "entry")
              return Effect.void
            pages += 1
            return pages === 3 ? Effect.die(new Error("boom")) : Effect.void
          })
        )
        const log = capturedLog()
        yield* Sim.startEngine(a, "memory:a", [])
        yield* SyncEngine.start({ listen: "memory:b", peers: ["memory:a"], options: options(1_000) }).pipe(
          Effect.provide(b),
          Effect.provide(log.logger)
        )
        yield* Sim.converged([a, b], (l) => l.length === 3_002)
        expect(pages).toBeGreaterThan(3)
        expect(log.lines).toContain("Sync with memory:a hit an unexpected error")
        expect(log.lines).toContain("Sync with memory:a stopped: unexpected error: boom; reconnecting")
      })
    )
  )
})

describe("backpressure", () => {
  it.live("the serving peer sends a page only when asked, and at most two pages are ever in flight", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* Layer.build(Sim.networkLayer)
        const a = yield* Sim.device(net, deviceA)
        const b = yield* Sim.device(net, deviceB)
        yield* writeEntries(a, 0, 20_000)
        yield* Sim.startEngine(a, "memory:a", [])
        // Hold B's request for the fourth page of entries until the gate opens.
        const gate = yield* Deferred.make<void>()
        let pages = 0
        yield* onNetwork(net, (network) =>
          network.intercept((request) => {
            if (request._tag !== "Pull" || request.resource !== "entry") return Effect.void
            pages += 1
            return pages === 4 ? Deferred.await(gate) : Effect.void
          })
        )
        // Sample, all through the backfill, how far A's sending is ahead of B's applying: one page in B's
        // hands and the one it asked for ahead, never more.
        let maxAhead = 0
        const sampler = yield* Effect.fork(
          Effect.forever(
            Effect.zipRight(
              Effect.map(Effect.all([sent(a, deviceB), received(b, deviceA)]), ([s, r]) => {
                maxAhead = Math.max(maxAhead, s - r)
              }),
              Effect.sleep("1 millis")
            )
          )
        )
        yield* Sim.startEngine(b, "memory:b", ["memory:a"], options(1_000))
        yield* waitUntil(
          "three pages",
          Effect.map(count(b, "entry"), (n) => n === 3_000)
        )
        // While B does not ask, A sends nothing: no page is pushed ahead of a request.
        yield* Effect.sleep("300 millis")
        expect(yield* sent(a, deviceB)).toBe(3_000)
        expect(yield* count(b, "entry")).toBe(3_000)
        yield* Deferred.succeed(gate, undefined)
        yield* waitUntil(
          "all entries",
          Effect.map(count(b, "entry"), (n) => n === 20_000)
        )
        yield* Fiber.interrupt(sampler)
        expect(maxAhead).toBeGreaterThan(0)
        expect(maxAhead).toBeLessThanOrEqual(2 * 1_000)
      })
    )
  )
})

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
        const { lines, logger } = capturedLog()
        yield* SyncEngine.start({
          listen: "memory:b",
          peers: ["memory:a"],
          options: { ...Sim.fastOptions, batchSize: 500, progressLogMillis: 0 }
        }).pipe(Effect.provide(b), Effect.provide(logger), Logger.withMinimumLogLevel(LogLevel.Info))
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
