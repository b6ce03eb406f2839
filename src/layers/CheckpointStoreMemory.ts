// CheckpointStore in memory, for fast tests. Lists in (peer, resource) order, like the sqlite layer.
import { Clock, Effect, Layer, Option } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"
import { type Checkpoint, CheckpointStore, type RangeCheckpoint } from "../services/CheckpointStore.js"

export const make = Effect.sync(() => {
  const checkpoints = new Map<string, Checkpoint>()
  const key = (peer: DeviceId, resource: ResourceType) => `${peer}/${resource}`
  const ranges = new Map<ResourceType, Map<string, RangeCheckpoint>>()
  const rangesOf = (resource: ResourceType) => {
    const held = ranges.get(resource) ?? new Map<string, RangeCheckpoint>()
    ranges.set(resource, held)
    return held
  }
  return CheckpointStore.of({
    get: (peer, resource) => Effect.sync(() => Option.fromNullable(checkpoints.get(key(peer, resource)))),
    save: (peer, resource, p) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const started = checkpoints.get(key(peer, resource))
        checkpoints.set(key(peer, resource), {
          peer,
          resource,
          // The progress fields only: the object given may carry more (a caller's own progress state).
          cursor: p.cursor,
          recordsDone: p.recordsDone,
          totalExpected: p.totalExpected,
          logStart: p.logStart,
          startedAt: started?.startedAt ?? now,
          startedDone: started?.startedDone ?? p.recordsDone,
          updatedAt: now
        })
      }),
    clear: (peer, resource) => Effect.sync(() => void checkpoints.delete(key(peer, resource))),
    list: Effect.sync(() =>
      [...checkpoints.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, checkpoint]) => checkpoint)
    ),
    ranges: {
      list: (resource) =>
        Effect.sync(() => [...rangesOf(resource).values()].sort((a, b) => (a.lo < b.lo ? -1 : 1))),
      plan: (resource, planned) =>
        Effect.sync(() => {
          const held = rangesOf(resource)
          for (const r of planned) if (!held.has(r.lo)) held.set(r.lo, { ...r })
        }),
      save: (resource, range) => Effect.sync(() => void rangesOf(resource).set(range.lo, { ...range })),
      clear: (resource) => Effect.sync(() => void ranges.delete(resource))
    }
  })
})

export const layer: Layer.Layer<CheckpointStore> = Layer.effect(CheckpointStore, make)
