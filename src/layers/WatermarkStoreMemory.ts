// WatermarkStore in memory, for fast tests. Same forward-only rule as the sqlite layer. Forgetting a peer
// (forget, or a rebase onto another of its files) also clears its checkpoints, through the CheckpointStore
// this layer is given: they are cursors into the same seqs.
import { Clock, Effect, Layer, Option } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"
import { CheckpointStore } from "../services/CheckpointStore.js"
import { type Watermark, WatermarkStore } from "../services/WatermarkStore.js"

export const make = Effect.gen(function* () {
  const checkpoints = yield* CheckpointStore
  const marks = new Map<string, Watermark>()
  const stores = new Map<DeviceId, string>()
  const openings = new Map<DeviceId, string>()
  const seen = new Map<DeviceId, number>()
  const forgetPeer = (peer: DeviceId) =>
    Effect.gen(function* () {
      seen.delete(peer)
      for (const [k, m] of marks) if (m.peer === peer) marks.delete(k)
      const held = yield* checkpoints.list
      yield* Effect.forEach(
        held.filter((c) => c.peer === peer),
        (c) => checkpoints.clear(peer, c.resource),
        { discard: true }
      )
    })
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
      Effect.suspend(() => {
        const known = stores.get(peer)
        stores.set(peer, storeId)
        if (known === undefined || known === storeId) return Effect.succeed(false)
        return Effect.as(forgetPeer(peer), true)
      }),
    forget: forgetPeer,
    peerOpening: (peer) => Effect.sync(() => Option.fromNullable(openings.get(peer))),
    recordOpening: (peer, opening) =>
      Effect.sync(() => (opening === undefined ? openings.delete(peer) : openings.set(peer, opening))),
    peerSeen: (peer) => Effect.sync(() => seen.get(peer) ?? 0),
    recordSeen: (peer, end) => Effect.sync(() => seen.set(peer, Math.max(seen.get(peer) ?? 0, end))),
    list: Effect.sync(() =>
      [...marks.values()].sort((a, b) => (key(a.peer, a.resource) < key(b.peer, b.resource) ? -1 : 1))
    )
  })
})

/** Needs the device's CheckpointStore (give it the same one the device uses), whose entries it clears. */
export const layer: Layer.Layer<WatermarkStore, never, CheckpointStore> = Layer.effect(WatermarkStore, make)
