// WatermarkStore in memory, for fast tests. Same forward-only rule as the sqlite layer.
import { Clock, Effect, Layer, Option } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"
import { type Watermark, WatermarkStore } from "../services/WatermarkStore.js"

export const make = Effect.sync(() => {
  const marks = new Map<string, Watermark>()
  const stores = new Map<DeviceId, string>()
  const forgetPeer = (peer: DeviceId) => {
    for (const [k, m] of marks) if (m.peer === peer) marks.delete(k)
  }
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
    peerStore: (peer) => Effect.sync(() => Option.fromNullable(stores.get(peer))),
    rebase: (peer, storeId) =>
      Effect.sync(() => {
        const known = stores.get(peer)
        stores.set(peer, storeId)
        if (known === undefined || known === storeId) return false
        forgetPeer(peer)
        return true
      }),
    forget: (peer) => Effect.sync(() => forgetPeer(peer)),
    list: Effect.sync(() =>
      [...marks.values()].sort((a, b) => (key(a.peer, a.resource) < key(b.peer, b.resource) ? -1 : 1))
    )
  })
})

export const layer: Layer.Layer<WatermarkStore> = Layer.effect(WatermarkStore, make)
