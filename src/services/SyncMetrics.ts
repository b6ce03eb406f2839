// Counters of what sync moved: records and bytes received from and sent to each peer.
import { Context, Effect, Layer, Ref } from "effect"
import type { StoreError } from "../domain/Errors.js"
import type { DeviceId } from "../domain/Ids.js"

export interface PeerCounters {
  readonly recordsReceived: number
  readonly bytesReceived: number
  readonly recordsSent: number
  readonly bytesSent: number
}

const zero: PeerCounters = { recordsReceived: 0, bytesReceived: 0, recordsSent: 0, bytesSent: 0 }

export class SyncMetrics extends Context.Tag("tidemark/SyncMetrics")<
  SyncMetrics,
  {
    /**
     * Count rows received and applied. It fails when the count cannot be stored, so that inside the page's
     * progress transaction (ProgressRecord) the counter commits with the watermark or neither does.
     */
    readonly received: (peer: DeviceId, records: number, bytes: number) => Effect.Effect<void, StoreError>
    /** Count rows sent. Best effort: a count that cannot be stored is logged, and serving goes on. */
    readonly sent: (peer: DeviceId, records: number, bytes: number) => Effect.Effect<void>
    readonly counters: Effect.Effect<ReadonlyMap<DeviceId, PeerCounters>>
  }
>() {}

export const makeMemory = Effect.gen(function* () {
  const counters = yield* Ref.make(new Map<DeviceId, PeerCounters>())
  const add = (peer: DeviceId, f: (c: PeerCounters) => PeerCounters) =>
    Ref.update(counters, (m) => new Map(m).set(peer, f(m.get(peer) ?? zero)))
  return SyncMetrics.of({
    received: (peer, records, bytes) =>
      add(peer, (c) => ({
        ...c,
        recordsReceived: c.recordsReceived + records,
        bytesReceived: c.bytesReceived + bytes
      })),
    sent: (peer, records, bytes) =>
      add(peer, (c) => ({ ...c, recordsSent: c.recordsSent + records, bytesSent: c.bytesSent + bytes })),
    counters: Ref.get(counters)
  })
})

export const layerMemory: Layer.Layer<SyncMetrics> = Layer.effect(SyncMetrics, makeMemory)
