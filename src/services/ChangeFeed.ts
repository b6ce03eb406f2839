// "Something new was committed": wakes the pulls that wait for rows (live sync without polling delay), per
// resource kind, so a write of a tag does not wake every peer's entry stream. Keeps: a waiter never misses a
// change that commits after it took its signal — take `next` *before* reading, then wait on it only if the
// read found nothing.
import { Context, Deferred, Duration, Effect, Layer, Option } from "effect"
import type { ResourceType } from "../domain/Resource.js"
import { Kinds } from "./Kinds.js"

export class ChangeFeed extends Context.Tag("tidemark/ChangeFeed")<
  ChangeFeed,
  {
    /**
     * Tell waiters that rows of these kinds were committed (local writes, applied pages); without kinds,
     * all of them (another process wrote, and which kinds is not known).
     */
    readonly publish: (resources?: ReadonlyArray<ResourceType>) => Effect.Effect<void>
    /** A signal that completes at the next publish of `resource`. */
    readonly next: (resource: ResourceType) => Effect.Effect<Effect.Effect<void>>
  }
>() {}

export const make = Effect.gen(function* () {
  const { names } = yield* Kinds
  const current = new Map<ResourceType, Deferred.Deferred<void>>()
  for (const r of names) current.set(r, yield* Deferred.make<void>())
  return ChangeFeed.of({
    publish: (resources = names) =>
      Effect.forEach(
        resources,
        (r) =>
          Effect.flatMap(Deferred.make<void>(), (fresh) => {
            const done = current.get(r)!
            current.set(r, fresh)
            return Deferred.succeed(done, undefined)
          }),
        { discard: true }
      ),
    next: (resource) => Effect.sync(() => Deferred.await(current.get(resource)!))
  })
})

export const layer: Layer.Layer<ChangeFeed, never, Kinds> = Layer.effect(ChangeFeed, make)

/** Wait for `signal` at most `millis`; true when it fired. */
export const waitFor = (signal: Effect.Effect<void>, millis: number): Effect.Effect<boolean> =>
  millis <= 0
    ? Effect.succeed(false)
    : Effect.map(Effect.timeoutOption(signal, Duration.millis(millis)), Option.isSome)
