// A new device backfilling one kind from two peers at once, split by uuid range (BackfillCoordinator,
// SplitBackfill): each peer serves about its share, a stop resumes each range from its checkpoint, a peer that
// drops out hands its remainder to the other, and rows written on a peer during the split arrive.
import { describe, expect, it } from "@effect/vitest"
import { type Context, Effect, Exit, FastCheck as fc, Fiber, Layer, Option, Scope, TestClock } from "effect"
import * as Fingerprint from "../src/domain/Fingerprint.js"
import type { DeviceId, Uuid } from "../src/domain/Ids.js"
import type { PeerRequest } from "../src/domain/Protocol.js"
import * as CheckpointStoreMemory from "../src/layers/CheckpointStoreMemory.js"
import * as TransportMemory from "../src/layers/TransportMemory.js"
import * as BackfillCoordinator from "../src/services/BackfillCoordinator.js"
import { CheckpointStore } from "../src/services/CheckpointStore.js"
import { Library } from "../src/services/Library.js"
import { LibraryStore } from "../src/services/LibraryStore.js"
import { deviceA, deviceB, deviceC, entryFields, uuidN } from "./support/fixtures.js"
import * as Sim from "./support/sim.js"
import { tempDir } from "./support/tempDir.js"

/** A uuid spread over the uuid space, as random ones are: its first eight hex digits hash `n`. */
const spreadUuid = (n: number): Uuid => {
  let h = 0x811c9dc5
  for (const c of `entry-${n}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0
  return `${h.toString(16).padStart(8, "0")}-0000-4000-8000-${n.toString(16).padStart(12, "0")}` as Uuid
}

const uuidArb = fc.uuid().map((u) => u.toLowerCase())

const ROWS = 4_000
const BATCH = 200

const writeEntries = (ctx: Sim.Ctx, from: number, count: number, name = "file") =>
  Effect.provide(
    Effect.flatMap(Library, (l) =>
      l.write(
        "entry",
        Array.from({ length: count }, (_, i) => ({
          uuid: spreadUuid(from + i),
          fields: { ...entryFields(from + i, uuidN(1)), name: `${name}-${from + i}` }
        }))
      )
    ),
    ctx
  )

const { entryCount: count, sentTo } = Sim
const rangesOf = (ctx: Sim.Ctx) =>
  Effect.provide(
    Effect.flatMap(CheckpointStore, (s) => s.ranges!.list("entry")),
    ctx
  )

const options = { ...Sim.fastOptions, batchSize: BATCH, spreadSettleMillis: 300, splitMinRows: 2 * BATCH }

/**
 * A and C hold the same entries: C's are A's rows applied as they are (C does not sync with A, so a row
 * written on A later reaches C only through B).
 */
const twoPeersLacking = (lacking: number) =>
  Effect.gen(function* () {
    const net = yield* Layer.build(Sim.networkLayer)
    const a = yield* Sim.device(net, deviceA)
    const c = yield* Sim.device(net, deviceC)
    yield* writeEntries(a, 0, ROWS)
    const rows = yield* Effect.provide(
      Effect.flatMap(LibraryStore, (s) => s.readAfter("entry", 0, ROWS)),
      a
    )
    yield* Effect.provide(
      Effect.flatMap(Library, (l) => l.applyRemote("entry", rows.slice(0, ROWS - lacking))),
      c
    )
    yield* Sim.startEngine(a, "memory:a", [])
    yield* Sim.startEngine(c, "memory:c", [])
    return { net, a, c }
  })
const twoPeers = twoPeersLacking(0)

/** Record B's entry PullRange requests (peer, range, cursor), and run `hook` on each. */
const watchRanges = (
  net: Context.Context<TransportMemory.MemoryNetwork>,
  seen: Array<{ to: string; lo: string; afterUuid: string }>,
  hook: (request: Extract<PeerRequest, { _tag: "PullRange" }>, to: string, n: number) => Effect.Effect<void>
) =>
  Effect.provide(
    Effect.flatMap(TransportMemory.MemoryNetwork, (network) =>
      network.intercept((request, from, to) => {
        if (from !== deviceB || request._tag !== "PullRange" || request.resource !== "entry")
          return Effect.void
        seen.push({ to, lo: request.range.lo, afterUuid: request.afterUuid })
        return hook(request, to, seen.length)
      })
    ),
    net
  )

describe("a kind's backfill split over two peers", () => {
  it("splits the uuid space by the rows each peer reported", () => {
    expect(BackfillCoordinator.splitByWeight([1, 1]).map(({ lo, hi }) => ({ lo, hi }))).toEqual([
      { lo: "", hi: "8000" },
      { lo: "8000", hi: "g" }
    ])
    const [first] = BackfillCoordinator.splitByWeight([3, 1])
    expect(first!.hi).toBe("c000")
  })

  it.prop(
    "a split's range is covered exactly by prefix ranges, which narrowing can split further",
    [
      fc.integer({ min: 0, max: 0x10000 }),
      fc.integer({ min: 0, max: 0x10000 }),
      fc.array(uuidArb, { maxLength: 30 })
    ],
    ([x, y, probes]) => {
      const bound = (n: number) => (n === 0 ? "" : n === 0x10000 ? "g" : n.toString(16).padStart(4, "0"))
      const range = { lo: bound(Math.min(x, y)), hi: bound(Math.max(x, y)) }
      const parts = Fingerprint.prefixCover(range)
      for (const u of probes) {
        const inside = u >= range.lo && u < range.hi
        expect(parts.filter((p) => u >= p.lo && u < p.hi).length).toBe(inside ? 1 : 0)
      }
      expect(parts.length).toBeLessThanOrEqual(4 * 2 * 17)
    }
  )

  it.prop(
    "a received row adds to a range's fingerprint what its canonical contents would",
    [
      fc.array(
        fc.record({
          uuid: uuidArb,
          version: fc.string(),
          deleted: fc.boolean(),
          owner: fc.option(fc.string(), { nil: null }),
          name: fc.option(fc.string(), { nil: null }),
          size: fc.option(fc.integer(), { nil: null })
        }),
        { maxLength: 20 }
      )
    ],
    ([rows]) => {
      const contents = Fingerprint.contents([
        { name: "size", type: "integer" },
        { name: "name", type: "text" }
      ])
      const byRow = Fingerprint.accumulator()
      const byString = Fingerprint.accumulator()
      for (const { name, size, ...r } of rows) {
        const row = { ...r, fields: { name, size } }
        byRow.addRow(row, contents)
        byString.add(row.uuid, row.version, contents.ofRow(row))
      }
      expect(byRow.result()).toEqual(byString.result())
    }
  )

  it.scoped("a kind is split as soon as every configured peer asks for it, before the settle time", () =>
    Effect.gen(function* () {
      const store = yield* Effect.provide(
        Effect.map(CheckpointStore, (s) => s.ranges!),
        CheckpointStoreMemory.layer
      )
      // A settle time of an hour that the test clock never reaches: only the two peers' asking decides.
      const coordinator = yield* BackfillCoordinator.make(3_600_000, store, 2)
      const ask = (peer: DeviceId) =>
        Effect.forkScoped(coordinator.turn("entry", peer, { rows: 1_000, split: { minRows: 10 } }))
      const [fromA, fromC] = [yield* ask(deviceA), yield* ask(deviceC)]
      yield* TestClock.adjust("1 millis")
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow()
      expect(yield* Fiber.poll(fromA)).toEqual(Option.some(Exit.succeed("split")))
      expect(yield* Fiber.poll(fromC)).toEqual(Option.some(Exit.succeed("split")))
      expect((yield* store.list("entry")).length).toBe(2)
    })
  )

  /** A coordinator with a split of "entry" over A and C decided (two ranges recorded). */
  const splitOverAandC = Effect.gen(function* () {
    const store = yield* Effect.provide(
      Effect.map(CheckpointStore, (s) => s.ranges!),
      CheckpointStoreMemory.layer
    )
    const coordinator = yield* BackfillCoordinator.make(3_600_000, store, 2)
    const ask = (peer: DeviceId) =>
      Effect.forkScoped(coordinator.turn("entry", peer, { rows: 1_000, split: { minRows: 10 } }))
    const asked = [yield* ask(deviceA), yield* ask(deviceC)]
    yield* TestClock.adjust("1 millis")
    for (const fiber of asked) expect(yield* Fiber.join(fiber)).toBe("split")
    return { coordinator, store }
  })

  it.scoped("a stream outside the split catching up does not end the split while ranges remain", () =>
    Effect.gen(function* () {
      const { coordinator, store } = yield* splitOverAandC
      const first = yield* coordinator.claim("entry", deviceA)
      expect(Option.isSome(first)).toBe(true)
      // Another stream of the kind (one that resumed from a watermark) is caught up and says so.
      yield* coordinator.finish("entry")
      // C still gets its range, the split has not ended, and its ranges stay recorded.
      expect(Option.isSome(yield* coordinator.claim("entry", deviceC))).toBe(true)
      expect(Option.isNone(coordinator.ended("entry"))).toBe(true)
      expect((yield* store.list("entry")).length).toBe(2)
    })
  )

  it.scoped("a range pulled whole is marked with the session it was pulled in", () =>
    Effect.gen(function* () {
      const { coordinator } = yield* splitOverAandC
      const [sessionA, sessionC] = [{ name: "A's session" }, { name: "C's session" }]
      for (const [peer, session] of [
        [deviceA, sessionA],
        [deviceC, sessionC]
      ] as const) {
        const range = yield* coordinator.claim("entry", peer, { since: 7, session })
        yield* coordinator.advance("entry", { ...Option.getOrThrow(range), done: true })
      }
      yield* coordinator.finish("entry")
      const ended = Option.getOrThrow(coordinator.ended("entry"))
      expect(ended.map((r) => r.whole?.session)).toEqual(expect.arrayContaining([sessionA, sessionC]))
    })
  )

  it.scoped("a peer holding none of the kind waits for a split while a peer with rows works on it", () =>
    Effect.gen(function* () {
      // (Seed 108291 is the end-to-end case: the split's peers gone, the one left reporting no rows.)
      const { coordinator } = yield* splitOverAandC
      const fromB = yield* Effect.forkScoped(coordinator.turn("entry", deviceB, { rows: 0 }))
      yield* TestClock.adjust("1 hour")
      expect(yield* Fiber.poll(fromB)).toEqual(Option.none())
    })
  )

  it.scoped("a split whose peers all left is finished by a peer holding none of the kind", () =>
    Effect.gen(function* () {
      const store = yield* Effect.provide(
        Effect.map(CheckpointStore, (s) => s.ranges!),
        CheckpointStoreMemory.layer
      )
      const coordinator = yield* BackfillCoordinator.make(3_600_000, store, 2)
      // A and C split the kind, then leave (their sessions' scopes close) before pulling anything.
      const sessions = [yield* Scope.make(), yield* Scope.make()]
      const asked = yield* Effect.forEach([deviceA, deviceC], (peer, i) =>
        Effect.fork(
          Scope.extend(coordinator.turn("entry", peer, { rows: 1_000, split: { minRows: 10 } }), sessions[i]!)
        )
      )
      yield* TestClock.adjust("1 millis")
      for (const fiber of asked) expect(yield* Fiber.join(fiber)).toBe("split")
      for (const session of sessions) yield* Scope.close(session, Exit.void)
      // B reports no rows of the kind: it takes the split's ranges instead of waiting for ever.
      const fromB = yield* Effect.forkScoped(coordinator.turn("entry", deviceB, { rows: 0 }))
      yield* TestClock.adjust("1 hour")
      expect(yield* Fiber.poll(fromB)).toEqual(Option.some(Exit.succeed("split")))
      for (let i = 0; i < 2; i++) {
        const range = Option.getOrThrow(yield* coordinator.claim("entry", deviceB))
        yield* coordinator.advance("entry", { ...range, done: true })
      }
      expect(Option.isNone(yield* coordinator.claim("entry", deviceB))).toBe(true)
    })
  )

  it.live("converges with each peer serving about its half", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { a, c, net } = yield* twoPeers
        const seen: Array<{ to: string; lo: string; afterUuid: string }> = []
        yield* watchRanges(net, seen, () => Effect.void)
        const b = yield* Sim.device(net, deviceB)
        yield* Sim.startEngine(b, "memory:b", ["memory:a", "memory:c"], options)
        yield* Sim.converged(
          [a, b, c],
          (l) => l.filter((x) => x.includes('"resource":"entry"')).length === ROWS
        )
        yield* Effect.sleep("100 millis")
        const [fromA, fromC] = [yield* sentTo(a, deviceB), yield* sentTo(c, deviceB)]
        // Each about half of the 4,000 (uuids spread evenly, not exactly), and about the library once in all.
        expect(Math.min(fromA, fromC)).toBeGreaterThan(ROWS * 0.35)
        expect(fromA + fromC).toBeLessThanOrEqual(ROWS * 1.1)
        // Both peers were asked for ranges, and the ranges were forgotten once done.
        expect(new Set(seen.map((s) => s.to)).size).toBe(2)
        expect(yield* rangesOf(b)).toEqual([])
      })
    )
  )

  it.live("a peer that drops out mid-range hands its remainder, from its checkpoint, to the other", () =>
    Effect.scoped(
      Effect.gen(function* () {
        // C lacks 100 of A's rows: the part of C's range that C served must still be compared with A's.
        const { a, c, net } = yield* twoPeersLacking(100)
        const seen: Array<{ to: string; lo: string; afterUuid: string }> = []
        // Cut B from C at C's third range page.
        let cut = false
        yield* watchRanges(net, seen, (_, to) =>
          Effect.suspend(() => {
            if (cut || to !== deviceC || seen.filter((s) => s.to === deviceC).length < 3) return Effect.void
            cut = true
            return Effect.provide(
              Effect.flatMap(TransportMemory.MemoryNetwork, (n) =>
                n.partition([[deviceB, deviceA], [deviceC]])
              ),
              net
            )
          })
        )
        const b = yield* Sim.device(net, deviceB)
        yield* Sim.startEngine(b, "memory:b", ["memory:a", "memory:c"], options)
        yield* Sim.converged([a, b], (l) => l.filter((x) => x.includes('"resource":"entry"')).length === ROWS)
        expect(cut).toBe(true)
        // C's range: after the cut, A is asked for it from a cursor past its start, not from its beginning.
        const cRange = seen.find((s) => s.to === deviceC)!.lo
        const handedOver = seen.filter((s) => s.to === deviceA && s.lo === cRange)
        expect(handedOver.length).toBeGreaterThan(0)
        expect(handedOver[0]!.afterUuid).not.toBe("")
        // About the library once: C's pages before the cut, the rest from A, and at most a page or two again.
        const fromA = yield* sentTo(a, deviceB)
        const fromC = yield* sentTo(c, deviceB)
        expect(fromC).toBeGreaterThan(0)
        expect(fromA + fromC).toBeLessThanOrEqual(ROWS + 2 * BATCH)
      })
    )
  )

  it.live("a peer replaced after the split: the range it served whole is compared again", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* Layer.build(Sim.networkLayer)
        const firstA = yield* Scope.make()
        const a1 = yield* Scope.extend(Sim.device(net, deviceA), firstA)
        const c = yield* Sim.device(net, deviceC)
        yield* writeEntries(a1, 0, ROWS)
        const rows = yield* Effect.provide(
          Effect.flatMap(LibraryStore, (s) => s.readAfter("entry", 0, ROWS)),
          a1
        )
        yield* Effect.provide(
          Effect.flatMap(Library, (l) => l.applyRemote("entry", rows)),
          c
        )
        yield* Scope.extend(Sim.startEngine(a1, "memory:a", []), firstA)
        yield* Sim.startEngine(c, "memory:c", [])
        const b = yield* Sim.device(net, deviceB)
        yield* Sim.startEngine(b, "memory:b", ["memory:a", "memory:c"], options)
        yield* Sim.converged(
          [a1, b],
          (l) => l.filter((x) => x.includes('"resource":"entry"')).length === ROWS
        )
        expect((yield* sentTo(a1, deviceB)) + (yield* sentTo(c, deviceB))).toBeLessThanOrEqual(
          ROWS + 2 * BATCH
        )
        yield* Effect.sleep("200 millis")

        // A's files are replaced by new ones (a new store id) holding 60 other entries, at seqs far below the
        // table end B's split read from A: B forgets A's positions and reconciles, within the same process.
        yield* Scope.close(firstA, Exit.void)
        const a2 = yield* Sim.device(net, deviceA)
        yield* writeEntries(a2, ROWS, 60, "after")
        yield* Sim.startEngine(a2, "memory:a", [])
        const wanted = (yield* Sim.dump(a2)).filter((x) => x.includes('"resource":"entry"'))
        expect(wanted.length).toBe(60)
        // Every one of them reaches B, in A's range of the split as well as in C's.
        yield* Effect.gen(function* () {
          for (;;) {
            const held = new Set(yield* Sim.dump(b))
            if (wanted.every((x) => held.has(x))) return
            yield* Effect.sleep("20 millis")
          }
        }).pipe(
          Effect.timeoutFail({
            duration: "15 seconds",
            onTimeout: () => new Error("A's new rows did not all reach B")
          })
        )
      })
    )
  )

  it.live("stopped mid-split and restarted, each range resumes from its checkpoint", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { a, c, net } = yield* twoPeers
        const dir = yield* tempDir()
        const seen: Array<{ to: string; lo: string; afterUuid: string }> = []
        // The first run's range requests after the eighth never get an answer: B stops with both ranges under
        // way (about four pages each applied, one more asked for ahead).
        let holding = true
        yield* watchRanges(net, seen, (_, __, n) => (holding && n > 8 ? Effect.never : Effect.void))
        const firstRun = yield* Scope.make()
        const b1 = yield* Scope.extend(Sim.deviceOnDisk(net, deviceB, dir), firstRun)
        yield* Scope.extend(Sim.startEngine(b1, "memory:b", ["memory:a", "memory:c"], options), firstRun)
        while (seen.length < 10) yield* Effect.sleep("5 millis")
        yield* Effect.sleep("50 millis")
        yield* Scope.close(firstRun, Exit.void)
        holding = false
        const sentBefore = (yield* sentTo(a, deviceB)) + (yield* sentTo(c, deviceB))
        const restarted = seen.length

        const b2 = yield* Sim.deviceOnDisk(net, deviceB, dir)
        const ranges = yield* rangesOf(b2)
        expect(ranges.length).toBe(2)
        const held = yield* count(b2)
        expect(held).toBeGreaterThan(0)
        yield* Sim.startEngine(b2, "memory:b", ["memory:a", "memory:c"], options)
        yield* Sim.converged(
          [a, b2],
          (l) => l.filter((x) => x.includes('"resource":"entry"')).length === ROWS
        )
        // Each range was asked for again from its checkpoint (a range that had begun, not from "").
        const again = seen.slice(restarted)
        for (const r of ranges) {
          const first = again.find((s) => s.lo === r.lo)
          if (r.done) continue
          expect(first?.afterUuid).toBe(r.cursor)
        }
        // What the restart pulled: what was missing, plus at most about a page per range (the page applied but
        // not yet recorded, the page fetched ahead).
        const sentAfter = (yield* sentTo(a, deviceB)) + (yield* sentTo(c, deviceB)) - sentBefore
        expect(sentAfter).toBeLessThanOrEqual(ROWS - held + 2 * 2 * BATCH)
      })
    )
  )

  it.live("rows one peer holds and the other lacks arrive, whichever range they are in", () =>
    Effect.scoped(
      Effect.gen(function* () {
        // C lacks A's last 100 entries (in both halves of the uuid space): B's range from C misses those
        // in it, and B's comparison with A's fingerprints of that range must find them.
        const { a, c, net } = yield* twoPeersLacking(100)
        const b = yield* Sim.device(net, deviceB)
        yield* Sim.startEngine(b, "memory:b", ["memory:a", "memory:c"], options)
        yield* Sim.converged(
          [a, b, c],
          (l) => l.filter((x) => x.includes('"resource":"entry"')).length === ROWS
        )
        expect(yield* count(b)).toBe(ROWS)
      })
    )
  )

  it.live("rows written on a peer while the split runs arrive", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { a, c, net } = yield* twoPeers
        const seen: Array<{ to: string; lo: string; afterUuid: string }> = []
        let wrote = false
        // At B's fourth range page: A writes 50 new entries (in both halves of the uuid space) and changes the
        // first 50 (some in ranges already pulled); C does not have them yet when B reconciles with it.
        yield* watchRanges(net, seen, (_, __, n) =>
          Effect.suspend(() => {
            if (wrote || n < 4) return Effect.void
            wrote = true
            return Effect.orDie(
              Effect.zipRight(writeEntries(a, ROWS, 50, "new"), writeEntries(a, 0, 50, "changed"))
            )
          })
        )
        const b = yield* Sim.device(net, deviceB)
        yield* Sim.startEngine(b, "memory:b", ["memory:a", "memory:c"], options)
        const lines = yield* Sim.converged(
          [a, b, c],
          (l) => l.filter((x) => x.includes('"resource":"entry"')).length === ROWS + 50
        )
        expect(wrote).toBe(true)
        expect(lines.filter((l) => l.includes('"name":"changed-')).length).toBe(50)
      })
    )
  )
})
