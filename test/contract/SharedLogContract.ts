// The behaviour every SharedLog promises (src/services/SharedLog.ts), as tests any implementation runs: call
// `sharedLogContract(name, makeLayer)` inside a test file; `makeLayer` gives a fresh, empty log on each call.
// Seqs are compared only by order and identity, never by value: an implementation may start them anywhere.
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc, type Layer } from "effect"
import * as Hlc from "../../src/domain/Hlc.js"
import type { DeviceId } from "../../src/domain/Ids.js"
import type { ResourceType } from "../../src/domain/Resource.js"
import type { Row } from "../../src/domain/Row.js"
import { type LogEntry, SharedLog } from "../../src/services/SharedLog.js"
import { deviceA, deviceB, deviceC, uuidN } from "../support/fixtures.js"

export type SharedLogLayer = () => Layer.Layer<SharedLog, unknown>

type Kind = "tag" | "collection"
const kinds: ReadonlyArray<Kind> = ["tag", "collection"]

const row = (n: number, resource: Kind = "tag"): Row => ({
  uuid: uuidN(n),
  version: Hlc.toHlcString(Hlc.make(n, 0, deviceA)),
  deleted: n % 7 === 0,
  owner: null,
  fields: resource === "tag" ? { name: `tag ${n}`, color: n % 2 === 0 ? null : "red" } : { name: `c ${n}` }
})

const appendApplied = (from: number, to: number) =>
  Effect.gen(function* () {
    const log = yield* SharedLog
    const seqs = yield* log.append(
      Array.from({ length: to - from + 1 }, (_, i) => ({ resource: "tag" as const, row: row(from + i) }))
    )
    yield* log.markApplied(seqs)
    return seqs
  })

const increasing = (seqs: ReadonlyArray<number>) => seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)

/** Read one kind from `after` to the end in pages of `limit`, as a puller does. */
const pageThrough = (resource: ResourceType, after: number, limit: number) =>
  Effect.gen(function* () {
    const log = yield* SharedLog
    const read: Array<LogEntry> = []
    let cursor = after
    for (;;) {
      const page = yield* log.readResource(resource, cursor, limit)
      expect(page.entries.length).toBeLessThanOrEqual(limit)
      expect(page.through).toBeGreaterThanOrEqual(cursor)
      // `through` covers what was returned and never passes an entry of this kind that was not.
      expect(
        page.entries.every((e) => e.resource === resource && e.seq > cursor && e.seq <= page.through)
      ).toBe(true)
      read.push(...page.entries)
      if (page.entries.length === 0) return { read, through: page.through }
      cursor = page.through
    }
  })

/** What the log should hold, kept by the test alongside the store. */
interface Model {
  entries: Array<LogEntry & { applied: boolean }>
  appended: Array<number>
  prunedThrough: number
  acks: Map<DeviceId, number>
}

type Op =
  | { readonly op: "append"; readonly kinds: ReadonlyArray<Kind> }
  | { readonly op: "markApplied"; readonly all: boolean; readonly picks: ReadonlyArray<number> }
  | { readonly op: "ack"; readonly peer: DeviceId; readonly pick: number }
  | { readonly op: "prune"; readonly members: ReadonlyArray<DeviceId>; readonly retainAtMost?: number }

/**
 * A history in rounds, as a device lives it: append a batch, apply some or all of the log, peers ack (often
 * the end, -1), prune. Random order of single operations would rarely reach a prune that removes anything.
 */
const historyArb: fc.Arbitrary<ReadonlyArray<Op>> = fc
  .array(
    fc.record({
      kinds: fc.array(fc.constantFrom(...kinds), { minLength: 1, maxLength: 4 }),
      all: fc.boolean(),
      picks: fc.array(fc.nat(), { maxLength: 4 }),
      acks: fc.array(
        fc.record({ peer: fc.constantFrom(deviceB, deviceC), pick: fc.oneof(fc.constant(-1), fc.nat()) }),
        { maxLength: 2 }
      ),
      prune: fc.option(
        fc.record({
          members: fc.subarray([deviceB, deviceC]),
          retainAtMost: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined })
        }),
        { nil: undefined }
      )
    }),
    { minLength: 1, maxLength: 8 }
  )
  .map((rounds) =>
    rounds.flatMap((r): Array<Op> => [
      { op: "append", kinds: r.kinds },
      { op: "markApplied", all: r.all, picks: r.picks },
      ...r.acks.map((a): Op => ({ op: "ack", ...a })),
      ...(r.prune === undefined
        ? []
        : [
            r.prune.retainAtMost === undefined
              ? { op: "prune" as const, members: r.prune.members }
              : { op: "prune" as const, members: r.prune.members, retainAtMost: r.prune.retainAtMost }
          ])
    ])
  )

/** A seq appended so far (or 0, "nothing") chosen by an arbitrary number. */
const pickSeq = (m: Model, pick: number) =>
  pick === -1
    ? (m.appended.at(-1) ?? 0)
    : pick % (m.appended.length + 1) === 0
      ? 0
      : m.appended[(pick % (m.appended.length + 1)) - 1]!

const step = (m: Model, op: Op, n: number) =>
  Effect.gen(function* () {
    const log = yield* SharedLog
    switch (op.op) {
      case "append": {
        const input = op.kinds.map((resource, i) => ({ resource, row: row(n * 10 + i, resource) }))
        const seqs = yield* log.append(input)
        expect(seqs).toHaveLength(input.length)
        expect(increasing([...m.appended.slice(-1), ...seqs])).toBe(true)
        seqs.forEach((seq, i) => m.entries.push({ seq, ...input[i]!, applied: false }))
        m.appended.push(...seqs)
        return
      }
      case "markApplied": {
        const seqs = op.all ? [...m.appended] : op.picks.map((p) => pickSeq(m, p)).filter((s) => s > 0)
        yield* log.markApplied(seqs)
        for (const e of m.entries) if (seqs.includes(e.seq)) e.applied = true
        return
      }
      case "ack": {
        const seq = pickSeq(m, op.pick)
        yield* log.ack(op.peer, seq)
        m.acks.set(op.peer, Math.max(seq, m.acks.get(op.peer) ?? seq))
        return
      }
      case "prune": {
        const lowest = op.members.length === 0 ? 0 : Math.min(...op.members.map((p) => m.acks.get(p) ?? 0))
        let kept = m.entries.filter((e) => !(e.applied && e.seq <= lowest))
        if (op.retainAtMost !== undefined && kept.length > op.retainAtMost) {
          const newest = kept.slice(kept.length - op.retainAtMost).map((e) => e.seq)
          kept = kept.filter((e) => !e.applied || newest.includes(e.seq))
        }
        const removed = m.entries.filter((e) => !kept.includes(e))
        expect(yield* log.prune(op.members, op.retainAtMost)).toBe(removed.length)
        m.prunedThrough = Math.max(m.prunedThrough, ...removed.map((e) => e.seq))
        m.entries = kept
        return
      }
    }
  })

const strip = ({ applied: _, ...e }: LogEntry & { applied: boolean }): LogEntry => e

export const sharedLogContract = (name: string, makeLayer: SharedLogLayer) =>
  describe(`SharedLog contract (${name})`, () => {
    const run = <A, E>(effect: Effect.Effect<A, E, SharedLog>) => Effect.provide(effect, makeLayer())

    it.effect("an empty log has no bounds, no acks and nothing to read", () =>
      run(
        Effect.gen(function* () {
          const log = yield* SharedLog
          expect(yield* log.bounds).toEqual({ first: 0, last: 0, count: 0, prunedThrough: 0 })
          expect(yield* log.acks).toEqual(new Map())
          expect(yield* log.readAfter(0, 10)).toEqual([])
          expect(yield* log.unapplied(10)).toEqual([])
          expect(yield* log.readResource("tag", 0, 10)).toEqual({ entries: [], through: 0 })
          expect(yield* log.countAfter("tag", 0)).toBe(0)
          expect(yield* log.append([])).toEqual([])
          expect(yield* log.prune([deviceB], 0)).toBe(0)
        })
      )
    )

    it.effect("entries are read back in seq order after a cursor, with their rows intact", () =>
      run(
        Effect.gen(function* () {
          const log = yield* SharedLog
          const seqs = yield* appendApplied(1, 5)
          expect(increasing(seqs)).toBe(true)
          const after = yield* log.readAfter(seqs[1]!, 10)
          expect(after).toEqual([3, 4, 5].map((n, i) => ({ seq: seqs[i + 2], resource: "tag", row: row(n) })))
          expect((yield* log.readAfter(seqs[1]!, 2)).map((e) => e.seq)).toEqual(seqs.slice(2, 4))
          expect(yield* log.bounds).toEqual({ first: seqs[0], last: seqs[4], count: 5, prunedThrough: 0 })
        })
      )
    )

    it.effect("a page of one kind may move its cursor past other kinds' entries, never past its own", () =>
      run(
        Effect.gen(function* () {
          const log = yield* SharedLog
          const [t1] = yield* log.append([{ resource: "tag", row: row(1) }])
          const [, c2] = yield* log.append([
            { resource: "collection", row: row(2, "collection") },
            { resource: "collection", row: row(3, "collection") }
          ])
          const [t4] = yield* log.append([{ resource: "tag", row: row(4) }])
          const first = yield* log.readResource("tag", 0, 1)
          expect(first.entries.map((e) => e.seq)).toEqual([t1])
          expect(first.through).toBe(t1)
          const rest = yield* log.readResource("tag", first.through, 10)
          expect(rest.entries.map((e) => e.seq)).toEqual([t4])
          expect(rest.through).toBe(t4)
          const collections = yield* log.readResource("collection", 0, 10)
          expect(collections.entries).toHaveLength(2)
          expect(collections.through).toBe(t4)
          expect(c2).toBeLessThan(t4!)
          expect(yield* log.countAfter("collection", 0)).toBe(2)
          expect(yield* log.countAfter("collection", c2!)).toBe(0)
          expect(yield* log.countAfter("tag", t1!)).toBe(1)
        })
      )
    )

    it.effect.prop(
      "paging through one kind returns each of its entries once, in order, and ends at the log's end",
      [fc.array(fc.constantFrom(...kinds), { maxLength: 20 }), fc.integer({ min: 1, max: 5 })],
      ([written, limit]) =>
        run(
          Effect.gen(function* () {
            const log = yield* SharedLog
            const seqs = yield* log.append(
              written.map((resource, i) => ({ resource, row: row(i + 1, resource) }))
            )
            const last = (yield* log.bounds).last
            for (const kind of kinds) {
              const { read, through } = yield* pageThrough(kind, 0, limit)
              expect(read.map((e) => e.seq)).toEqual(seqs.filter((_, i) => written[i] === kind))
              expect(through).toBe(last)
              expect(yield* log.countAfter(kind, 0)).toBe(read.length)
            }
          })
        ),
      { fastCheck: { numRuns: 20 } }
    )

    it.effect("acks only move forward", () =>
      run(
        Effect.gen(function* () {
          const log = yield* SharedLog
          yield* log.ack(deviceB, 5)
          yield* log.ack(deviceB, 3)
          yield* log.ack(deviceC, 2)
          expect(yield* log.acks).toEqual(
            new Map([
              [deviceB, 5],
              [deviceC, 2]
            ])
          )
        })
      )
    )

    it.effect("unapplied lists the entries not yet marked applied, in seq order, up to the limit", () =>
      run(
        Effect.gen(function* () {
          const log = yield* SharedLog
          const seqs = yield* log.append([1, 2, 3, 4].map((n) => ({ resource: "tag" as const, row: row(n) })))
          yield* log.markApplied([seqs[1]!])
          expect((yield* log.unapplied(10)).map((e) => e.seq)).toEqual([seqs[0], seqs[2], seqs[3]])
          expect(yield* log.unapplied(2)).toEqual([
            { seq: seqs[0], resource: "tag", row: row(1) },
            { seq: seqs[2], resource: "tag", row: row(3) }
          ])
          yield* log.markApplied([])
          yield* log.markApplied(seqs)
          expect(yield* log.unapplied(10)).toEqual([])
        })
      )
    )

    it.effect("prune keeps everything a member has not acknowledged, and never reuses a seq", () =>
      run(
        Effect.gen(function* () {
          const log = yield* SharedLog
          const seqs = yield* appendApplied(1, 10)
          yield* log.ack(deviceB, seqs[6]!)
          // C never acknowledged: nothing may go.
          expect(yield* log.prune([deviceB, deviceC])).toBe(0)
          yield* log.ack(deviceC, seqs[3]!)
          expect(yield* log.prune([deviceB, deviceC])).toBe(4)
          expect((yield* log.bounds).first).toBe(seqs[4])
          expect((yield* log.bounds).prunedThrough).toBe(seqs[3])
          yield* log.ack(deviceC, seqs[9]!)
          yield* log.ack(deviceB, seqs[9]!)
          expect(yield* log.prune([deviceB, deviceC])).toBe(6)
          expect(yield* log.bounds).toEqual({ first: 0, last: seqs[9], count: 0, prunedThrough: seqs[9] })
          const [next] = yield* appendApplied(11, 11)
          expect(next).toBeGreaterThan(seqs[9]!)
          expect(yield* log.bounds).toEqual({ first: next, last: next, count: 1, prunedThrough: seqs[9] })
        })
      )
    )

    it.effect("a retention limit prunes the oldest entries even when a silent member pins the log", () =>
      run(
        Effect.gen(function* () {
          const log = yield* SharedLog
          const seqs = yield* appendApplied(1, 10)
          expect(yield* log.prune([deviceB], 3)).toBe(7)
          expect((yield* log.readAfter(0, 100)).map((e) => e.seq)).toEqual(seqs.slice(7))
          // A reader whose cursor is below prunedThrough has missed entries: it must re-transfer state.
          expect((yield* log.bounds).prunedThrough).toBe(seqs[6])
        })
      )
    )

    it.effect(
      "the applied end stops below the first entry not yet applied, and never below the pruned range",
      () =>
        run(
          Effect.gen(function* () {
            const log = yield* SharedLog
            expect(yield* log.appliedThrough).toBe(0)
            const [s1, s2, s3] = yield* log.append(
              [1, 2, 3].map((n) => ({ resource: "tag" as const, row: row(n) }))
            )
            // Logged, none applied: a state transfer must follow the log from before the first of them.
            expect(yield* log.appliedThrough).toBeLessThan(s1!)
            yield* log.markApplied([s1!, s3!])
            const applied = yield* log.appliedThrough
            expect(applied).toBeGreaterThanOrEqual(s1!)
            expect(applied).toBeLessThan(s2!)
            yield* log.markApplied([s2!])
            expect(yield* log.appliedThrough).toBe(s3)
            // An entry left unapplied (its apply failed; recovered on the next start) under entries pruned
            // since: the applied end is the pruned end, from where the log can still be read.
            const [s4, s5] = yield* log.append([4, 5].map((n) => ({ resource: "tag" as const, row: row(n) })))
            yield* log.markApplied([s5!])
            yield* log.ack(deviceB, s5!)
            expect(yield* log.prune([deviceB])).toBe(4)
            expect((yield* log.bounds).prunedThrough).toBe(s5)
            expect(yield* log.appliedThrough).toBe(s5)
            expect((yield* log.unapplied(10)).map((e) => e.seq)).toEqual([s4])
          })
        )
    )

    it.effect("entries not yet applied are never pruned and are listed for recovery", () =>
      run(
        Effect.gen(function* () {
          const log = yield* SharedLog
          const [seq] = yield* log.append([{ resource: "tag", row: row(1) }])
          yield* log.ack(deviceB, seq!)
          expect(yield* log.prune([deviceB], 0)).toBe(0)
          expect((yield* log.unapplied(10)).map((e) => e.seq)).toEqual([seq])
          yield* log.markApplied([seq!])
          expect(yield* log.unapplied(10)).toEqual([])
          expect(yield* log.prune([deviceB], 0)).toBe(1)
        })
      )
    )

    it.effect.prop(
      "after any appends, applies, acks and prunes the log holds exactly what the rules leave",
      [historyArb],
      ([ops]) =>
        run(
          Effect.gen(function* () {
            const log = yield* SharedLog
            const m: Model = { entries: [], appended: [], prunedThrough: 0, acks: new Map() }
            for (const [n, op] of ops.entries()) yield* step(m, op, n + 1)
            const held = m.entries.map(strip)
            expect(yield* log.readAfter(0, 1_000)).toEqual(held)
            expect(yield* log.unapplied(1_000)).toEqual(m.entries.filter((e) => !e.applied).map(strip))
            expect(yield* log.bounds).toEqual({
              first: held[0]?.seq ?? 0,
              last: m.appended.at(-1) ?? 0,
              count: held.length,
              prunedThrough: m.prunedThrough
            })
            expect(yield* log.acks).toEqual(m.acks)
            for (const kind of kinds) {
              expect(yield* log.countAfter(kind, 0)).toBe(held.filter((e) => e.resource === kind).length)
            }
          })
        ),
      { fastCheck: { numRuns: 40 } }
    )
  })
