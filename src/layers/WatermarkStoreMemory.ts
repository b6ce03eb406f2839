// WatermarkStore in memory, for fast tests. Same forward-only rule as the sqlite layer.
import { Clock, Effect, Layer } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"
import { type Watermark, WatermarkStore } from "../services/WatermarkStore.js"

export const make = Effect.sync(() => {
  const marks = new Map<string, Watermark>()
  const key = (peer: DeviceId, resource: ResourceType) => `${peer}/${resource}`
  return WatermarkStore.of({
    get: (peer, resource) => Effect.sync(() => marks.get(key(peer, resource))?.watermark ?? 0),
    advance: (peer, resource, to) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const current = marks.get(key(peer, resource))
        if (current === undefined || to > current.watermark) {
          marks.set(key(peer, resource), { peer, resource, watermark: to, updatedAt: now })
        }
      }),
    list: Effect.sync(() =>
      [...marks.values()].sort((a, b) => (key(a.peer, a.resource) < key(b.peer, b.resource) ? -1 : 1))
    )
  })
})

export const layer: Layer.Layer<WatermarkStore> = Layer.effect(WatermarkStore, make)
