// SharedLog in memory, for fast tests. Same rules as the sqlite layer: seqs are never reused, acks only move
// forward, only applied entries are pruned.
import { Effect, Layer } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import { appliedEnd, type LogEntry, SharedLog } from "../services/SharedLog.js"

export const make = Effect.sync(() => {
  let entries: Array<LogEntry & { applied: boolean }> = []
  let lastSeq = 0
  let prunedThrough = 0
  const acked = new Map<DeviceId, number>()
  const strip = ({ applied: _, ...e }: LogEntry & { applied: boolean }): LogEntry => e
  return SharedLog.of({
    append: (input) =>
      Effect.sync(() =>
        input.map(({ resource, row }) => {
          lastSeq += 1
          entries.push({ seq: lastSeq, resource, row, applied: false })
          return lastSeq
        })
      ),
    markApplied: (seqs) =>
      Effect.sync(() => {
        const set = new Set(seqs)
        for (const e of entries) if (set.has(e.seq)) e.applied = true
      }),
    unapplied: (limit) =>
      Effect.sync(() =>
        entries
          .filter((e) => !e.applied)
          .slice(0, limit)
          .map(strip)
      ),
    readAfter: (after, limit) =>
      Effect.sync(() =>
        entries
          .filter((e) => e.seq > after)
          .slice(0, limit)
          .map(strip)
      ),
    readResource: (resource, after, limit) =>
      Effect.sync(() => {
        const page = entries
          .filter((e) => e.resource === resource && e.seq > after)
          .slice(0, limit)
          .map(strip)
        return { entries: page, through: page.length < limit ? Math.max(after, lastSeq) : page.at(-1)!.seq }
      }),
    countAfter: (resource, after) =>
      Effect.sync(() => entries.filter((e) => e.resource === resource && e.seq > after).length),
    bounds: Effect.sync(() => ({
      first: entries[0]?.seq ?? 0,
      last: lastSeq,
      count: entries.length,
      prunedThrough
    })),
    appliedThrough: Effect.sync(() =>
      appliedEnd(
        { first: entries[0]?.seq ?? 0, last: lastSeq, count: entries.length, prunedThrough },
        entries.find((e) => !e.applied)?.seq ?? null
      )
    ),
    ack: (peer, seq) => Effect.sync(() => void acked.set(peer, Math.max(seq, acked.get(peer) ?? 0))),
    acks: Effect.sync(() => new Map(acked)),
    prune: (members, retainAtMost) =>
      Effect.sync(() => {
        const before = entries
        const lowest = members.length === 0 ? 0 : Math.min(...members.map((m) => acked.get(m) ?? 0))
        entries = entries.filter((e) => !(e.applied && e.seq <= lowest))
        if (retainAtMost !== undefined && entries.length > retainAtMost) {
          const cut = entries[entries.length - retainAtMost - 1]!.seq
          entries = entries.filter((e) => !(e.applied && e.seq <= cut))
        }
        const kept = new Set(entries)
        for (const e of before) if (!kept.has(e)) prunedThrough = Math.max(prunedThrough, e.seq)
        return before.length - entries.length
      })
  })
})

export const layer: Layer.Layer<SharedLog> = Layer.effect(SharedLog, make)
