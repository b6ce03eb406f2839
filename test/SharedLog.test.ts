import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Hlc from "../src/domain/Hlc.js"
import type { Row } from "../src/domain/Row.js"
import * as SharedLogMemory from "../src/layers/SharedLogMemory.js"
import * as SharedLogSqlite from "../src/layers/SharedLogSqlite.js"
import * as SyncDbSchema from "../src/layers/SyncDbSchema.js"
import { SharedLog } from "../src/services/SharedLog.js"
import { deviceA, deviceB, deviceC, uuidN } from "./support/fixtures.js"

const row = (n: number): Row => ({
  uuid: uuidN(n),
  version: Hlc.toHlcString(Hlc.make(n, 0, deviceA)),
  deleted: false,
  owner: null,
  fields: { name: `tag ${n}`, color: null }
})

const appendApplied = (from: number, to: number) =>
  Effect.gen(function* () {
    const log = yield* SharedLog
    const rows = Array.from({ length: to - from + 1 }, (_, i) => ({
      resource: "tag" as const,
      row: row(from + i)
    }))
    const seqs = yield* log.append(rows)
    yield* log.markApplied(seqs)
    return seqs
  })

const layers = {
  sqlite: SharedLogSqlite.layer.pipe(Layer.provide(SyncDbSchema.layer(":memory:"))),
  memory: SharedLogMemory.layer
}

for (const [name, layer] of Object.entries(layers)) {
  describe(`SharedLog (${name})`, () => {
    it.effect("entries are read back in seq order after a cursor, with their rows intact", () =>
      Effect.gen(function* () {
        const log = yield* SharedLog
        const seqs = yield* appendApplied(1, 5)
        expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
        const after = yield* log.readAfter(seqs[1]!, 10)
        expect(after.map((e) => e.row)).toEqual([row(3), row(4), row(5)])
        expect(yield* log.bounds).toEqual({ first: seqs[0], last: seqs[4], count: 5, prunedThrough: 0 })
      }).pipe(Effect.provide(layer))
    )

    it.effect("a page of one kind may move its cursor past other kinds' entries, never past its own", () =>
      Effect.gen(function* () {
        const log = yield* SharedLog
        const collection = (n: number): Row => ({ ...row(n), fields: { name: `c ${n}` } })
        const [t1] = yield* log.append([{ resource: "tag", row: row(1) }])
        const [, c2] = yield* log.append([
          { resource: "collection", row: collection(2) },
          { resource: "collection", row: collection(3) }
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
      }).pipe(Effect.provide(layer))
    )

    it.effect("acks only move forward", () =>
      Effect.gen(function* () {
        const log = yield* SharedLog
        yield* log.ack(deviceB, 5)
        yield* log.ack(deviceB, 3)
        expect((yield* log.acks).get(deviceB)).toBe(5)
      }).pipe(Effect.provide(layer))
    )

    it.effect("prune keeps everything a member has not acknowledged, and never reuses a seq", () =>
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
      }).pipe(Effect.provide(layer))
    )

    it.effect("a retention limit prunes the oldest entries even when a silent member pins the log", () =>
      Effect.gen(function* () {
        const log = yield* SharedLog
        const seqs = yield* appendApplied(1, 10)
        expect(yield* log.prune([deviceB], 3)).toBe(7)
        expect((yield* log.readAfter(0, 100)).map((e) => e.seq)).toEqual(seqs.slice(7))
      }).pipe(Effect.provide(layer))
    )

    it.effect("entries not yet applied are never pruned and are listed for recovery", () =>
      Effect.gen(function* () {
        const log = yield* SharedLog
        const [seq] = yield* log.append([{ resource: "tag", row: row(1) }])
        yield* log.ack(deviceB, seq!)
        expect(yield* log.prune([deviceB], 0)).toBe(0)
        expect((yield* log.unapplied(10)).map((e) => e.seq)).toEqual([seq])
        yield* log.markApplied([seq!])
        expect(yield* log.unapplied(10)).toEqual([])
      }).pipe(Effect.provide(layer))
    )
  })
}
