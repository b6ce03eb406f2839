// Which peers this device knows, from real connect and disconnect events: address, whether a connection is
// open (in either direction), when it was last heard from, and the last error.
import { Clock, Context, Effect, Layer, Ref } from "effect"
import type { DeviceId } from "../domain/Ids.js"

export interface PeerInfo {
  readonly peer: DeviceId
  readonly address: string
  readonly connections: number
  readonly lastSeen: number
  readonly lastError: string | null
}

export class PeerStatus extends Context.Tag("tidemark/PeerStatus")<
  PeerStatus,
  {
    readonly connected: (peer: DeviceId, address: string) => Effect.Effect<void>
    readonly disconnected: (peer: DeviceId, address: string, error?: string) => Effect.Effect<void>
    /** Heard from the peer (a page, a ping). */
    readonly seen: (peer: DeviceId) => Effect.Effect<void>
    readonly list: Effect.Effect<ReadonlyArray<PeerInfo>>
  }
>() {}

export const make = Effect.gen(function* () {
  const peers = yield* Ref.make(new Map<DeviceId, PeerInfo>())
  const update = (peer: DeviceId, f: (current: PeerInfo, now: number) => PeerInfo) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Ref.update(peers, (m) => {
        const current = m.get(peer) ?? { peer, address: "", connections: 0, lastSeen: now, lastError: null }
        return new Map(m).set(peer, f(current, now))
      })
    )
  return PeerStatus.of({
    connected: (peer, address) =>
      update(peer, (c, now) => ({
        ...c,
        address,
        connections: c.connections + 1,
        lastSeen: now,
        lastError: null
      })),
    disconnected: (peer, address, error) =>
      update(peer, (c, now) => ({
        ...c,
        address: c.address || address,
        connections: Math.max(0, c.connections - 1),
        lastSeen: now,
        lastError: error ?? c.lastError
      })),
    seen: (peer) => update(peer, (c, now) => ({ ...c, lastSeen: now })),
    list: Effect.map(Ref.get(peers), (m) => [...m.values()])
  })
})

export const layer: Layer.Layer<PeerStatus> = Layer.effect(PeerStatus, make)
