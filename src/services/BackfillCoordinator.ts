// Spreads a new device's backfill over its peers, by resource kind. When a stream would pull a kind from
// zero, it first asks for the kind: one peer at a time backfills it (each kind goes to the waiting peer that
// was handed the fewest rows so far, counted from the exchange, so two peers split the work whatever order
// the kinds are decided in, and empty kinds weigh nothing); the others wait. When that backfill finishes,
// every waiting stream goes on — by reconciling first (Reconcile.ts), which moves only what differs. If the peer
// doing it disconnects, the kind passes to a waiting peer, which also reconciles first: nothing restarts from
// zero. Purely an optimisation of traffic: every stream still runs, so no row can be missed by it.
import { Clock, Context, Deferred, Duration, Effect, Layer } from "effect"
import type { DeviceId } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"

export class BackfillCoordinator extends Context.Tag("tidemark/BackfillCoordinator")<
  BackfillCoordinator,
  {
    /**
     * Wait until this peer may pull `resource` (`rows` of it pending there) from zero. The turn ends with the
     * scope, or with `finish`.
     */
    readonly turn: (
      resource: ResourceType,
      peer: DeviceId,
      rows?: number
    ) => Effect.Effect<void, never, import("effect").Scope.Scope>
    /** The kind has been backfilled once: nobody needs to wait for it any more. */
    readonly finish: (resource: ResourceType) => Effect.Effect<void>
  }
>() {}

/** Hash for a stable tie-break between peers (rendezvous hashing). */
const score = (resource: string, peer: string) => {
  let h = 0x811c9dc5
  for (const c of `${resource}/${peer}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0
  return h
}

export const make = (settleMillis: number) =>
  Effect.gen(function* () {
    const owner = new Map<ResourceType, DeviceId>()
    const finished = new Set<ResourceType>()
    const waiting = new Map<ResourceType, Map<DeviceId, number>>()
    /** Rows handed to each peer so far (finished kinds included). */
    const handed = new Map<DeviceId, number>()
    let changed = yield* Deferred.make<void>()
    let settleUntil: number | undefined
    const notify = Effect.suspend(() => {
      const done = changed
      return Effect.flatMap(Deferred.make<void>(), (fresh) => {
        changed = fresh
        return Deferred.succeed(done, undefined)
      })
    })
    const load = (peer: DeviceId) => handed.get(peer) ?? 0

    const turn = (resource: ResourceType, peer: DeviceId, rows = 1) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        settleUntil ??= now + settleMillis
        const peers = waiting.get(resource) ?? new Map<DeviceId, number>()
        waiting.set(resource, peers.set(peer, rows))
        yield* Effect.addFinalizer(() =>
          Effect.suspend(() => {
            waiting.get(resource)?.delete(peer)
            if (owner.get(resource) !== peer) return Effect.void
            owner.delete(resource)
            return notify
          })
        )
        for (;;) {
          if (finished.has(resource)) return
          if (!owner.has(resource) && (yield* Clock.currentTimeMillis) >= settleUntil) {
            // The waiting peer handed the fewest rows so far takes it (stable tie-break).
            const chosen = [...(waiting.get(resource)?.keys() ?? [])].sort(
              (a, b) => load(a) - load(b) || score(resource, b) - score(resource, a)
            )[0]
            if (chosen === peer) {
              owner.set(resource, peer)
              handed.set(peer, load(peer) + rows)
              waiting.get(resource)?.delete(peer)
              return
            }
          }
          const signal = changed
          yield* Effect.timeout(Deferred.await(signal), Duration.millis(Math.max(5, settleMillis))).pipe(
            Effect.ignore
          )
        }
      })

    const finish = (resource: ResourceType) =>
      Effect.suspend(() => {
        finished.add(resource)
        owner.delete(resource)
        return notify
      })

    return BackfillCoordinator.of({ turn, finish })
  })

export const layer = (settleMillis: number): Layer.Layer<BackfillCoordinator> =>
  Layer.effect(BackfillCoordinator, make(settleMillis))
