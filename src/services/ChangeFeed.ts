// "Something new was committed": wakes the pulls that wait for rows (live sync without polling delay).
// Keeps: a waiter never misses a change that commits after it took its signal — take `next` *before*
// reading, then wait on it only if the read found nothing.
import { Context, Deferred, Duration, Effect, Layer, Option } from "effect"

export class ChangeFeed extends Context.Tag("tidemark/ChangeFeed")<
  ChangeFeed,
  {
    /** Tell waiters that rows were committed (local writes, applied pages, another process's writes). */
    readonly publish: Effect.Effect<void>
    /** A signal that completes at the next publish. */
    readonly next: Effect.Effect<Effect.Effect<void>>
  }
>() {}

export const make = Effect.gen(function* () {
  let current = yield* Deferred.make<void>()
  return ChangeFeed.of({
    publish: Effect.suspend(() => {
      const done = current
      return Effect.flatMap(Deferred.make<void>(), (fresh) => {
        current = fresh
        return Deferred.succeed(done, undefined)
      })
    }),
    next: Effect.sync(() => Deferred.await(current))
  })
})

export const layer: Layer.Layer<ChangeFeed> = Layer.effect(ChangeFeed, make)

/** Wait for `signal` at most `millis`; true when it fired. */
export const waitFor = (signal: Effect.Effect<void>, millis: number): Effect.Effect<boolean> =>
  millis <= 0
    ? Effect.succeed(false)
    : Effect.map(Effect.timeoutOption(signal, Duration.millis(millis)), Option.isSome)
