// The device's hybrid logical clock. Keeps: every timestamp it issues is strictly greater than every one it
// issued or received before, also across restarts, because a wall-time lease above anything issued is
// persisted *before* a timestamp beyond the previous lease is handed out.
import { Context, Effect, Either } from "effect"
import * as Hlc from "../domain/Hlc.js"
import type { DeviceId } from "../domain/Ids.js"
import type { ClockDriftError, StoreError } from "../domain/Errors.js"

export const DEFAULT_MAX_DRIFT_MILLIS = 5 * 60_000

/**
 * How far ahead of the last issued wall time the persisted high-water mark is set (one write per lease). A
 * restart starts above it, so it must be shorter than a process's start-up: with a lease of a second, a CLI
 * command run in a loop pushed the device's clock further ahead of the wall clock with every run.
 */
export const LEASE_MILLIS = 100

/**
 * The hybrid logical clock that versions this device's writes: strictly increasing, also across restarts,
 * and refusing a remote clock beyond the drift limit. Replace it with `overrides.clock`.
 */
export class HlcClock extends Context.Tag("tidemark/HlcClock")<
  HlcClock,
  {
    readonly device: DeviceId
    readonly maxDriftMillis: number
    /** A timestamp for a local event. */
    readonly now: Effect.Effect<Hlc.Hlc, StoreError>
    /** `n` strictly increasing timestamps for a batch of local events. */
    readonly nowBatch: (n: number) => Effect.Effect<ReadonlyArray<Hlc.Hlc>, StoreError>
    /** Merge a remote timestamp; fails without adopting it when it is beyond the drift limit. */
    readonly receive: (remote: Hlc.Hlc) => Effect.Effect<Hlc.Hlc, ClockDriftError | StoreError>
    /** The last timestamp issued or merged. */
    readonly last: Effect.Effect<Hlc.Hlc>
  }
>() {}

/** Where the clock keeps its high-water mark (wall milliseconds no issued timestamp exceeds). */
export interface HighWaterMark {
  readonly load: Effect.Effect<number, StoreError>
  readonly save: (wallMillis: number) => Effect.Effect<void, StoreError>
}

export interface ClockOptions {
  readonly device: DeviceId
  /** The physical clock in milliseconds. */
  readonly wallClock: Effect.Effect<number>
  readonly highWater: HighWaterMark
  readonly maxDriftMillis?: number
}

export const make = (options: ClockOptions): Effect.Effect<HlcClock["Type"], StoreError> =>
  Effect.gen(function* () {
    const maxDriftMillis = options.maxDriftMillis ?? DEFAULT_MAX_DRIFT_MILLIS
    let lease = yield* options.highWater.load
    // Everything issued before the restart had a wall time <= lease, so start just above it.
    let last = lease > 0 ? Hlc.make(lease, Hlc.MAX_COUNTER, options.device) : Hlc.zero(options.device)
    const lock = yield* Effect.makeSemaphore(1)

    /**
     * Run `step` from `last` at the wall time now. When what it gives is within the saved lease, it runs in
     * one synchronous step (no other fiber can come between), without the lock. Otherwise, under the lock, it
     * runs again from `last` then, saves the new lease and only then stores the timestamp. While such a
     * caller saves, others may still issue timestamps within the old lease: all of them are below what it
     * stores, whose wall time is beyond that lease.
     */
    const advance = <A, E>(
      step: (wall: number, from: Hlc.Hlc) => Either.Either<{ next: Hlc.Hlc; out: A }, E>
    ) =>
      Effect.flatMap(options.wallClock, (wall) => {
        const fast = step(wall, last)
        if (Either.isLeft(fast)) return Effect.fail(fast.left)
        if (fast.right.next.wall <= lease) {
          last = fast.right.next
          return Effect.succeed(fast.right.out)
        }
        return lock.withPermits(1)(
          Effect.gen(function* () {
            const stepped = step(yield* options.wallClock, last)
            if (Either.isLeft(stepped)) return yield* Effect.fail(stepped.left)
            const { next, out } = stepped.right
            if (next.wall > lease) {
              yield* options.highWater.save(next.wall + LEASE_MILLIS)
              lease = next.wall + LEASE_MILLIS
            }
            last = next
            return out
          })
        )
      })

    const nowBatch = (n: number) =>
      advance((wall, from) => {
        const out: Array<Hlc.Hlc> = []
        let next = from
        for (let i = 0; i < n; i++) {
          next = Hlc.tick(next, wall)
          out.push(next)
        }
        return Either.right({ next, out: out as ReadonlyArray<Hlc.Hlc> })
      })

    const receive = (remote: Hlc.Hlc) =>
      advance((wall, from) =>
        Either.map(Hlc.receive(from, remote, wall, maxDriftMillis), (merged) => ({
          next: merged,
          out: merged
        }))
      )

    return {
      device: options.device,
      maxDriftMillis,
      now: Effect.map(nowBatch(1), (hs) => hs[0]!),
      nowBatch,
      receive,
      last: Effect.sync(() => last)
    }
  })

/**
 * The newest timestamp issued by any process of a device that several processes run at once (a hub on
 * PostgreSQL), kept where all of them see it.
 */
export interface SharedHighWater {
  /**
   * Run `step` on the stored newest timestamp (undefined before the first) while holding a lock that keeps
   * every other process of the device out, store the timestamp it returns as the newest, and release the
   * lock. When `step` fails, nothing is stored.
   */
  readonly advance: <A, E>(
    step: (stored: Hlc.Hlc | undefined) => Either.Either<{ readonly newest: Hlc.Hlc; readonly result: A }, E>
  ) => Effect.Effect<A, E | StoreError>
}

/**
 * A clock shared by the processes of one device: each timestamp is computed from the newest one any process
 * issued, under that value's lock, so timestamps are unique and increasing across the processes (and across
 * restarts), not only within one. Costs one short transaction per batch of local events or received page.
 */
export const makeShared = (options: {
  readonly device: DeviceId
  readonly wallClock: Effect.Effect<number>
  readonly shared: SharedHighWater
  readonly maxDriftMillis?: number
}): Effect.Effect<HlcClock["Type"], StoreError> =>
  Effect.gen(function* () {
    const maxDriftMillis = options.maxDriftMillis ?? DEFAULT_MAX_DRIFT_MILLIS
    let last = Hlc.zero(options.device)
    const lock = yield* Effect.makeSemaphore(1)
    const floor = (stored: Hlc.Hlc | undefined) => (stored === undefined ? last : Hlc.max(last, stored))

    const nowBatch = (n: number) =>
      lock.withPermits(1)(
        Effect.gen(function* () {
          const wall = yield* options.wallClock
          const out = yield* options.shared.advance((stored) => {
            const issued: Array<Hlc.Hlc> = []
            let next = floor(stored)
            for (let i = 0; i < n; i++) {
              next = Hlc.tick(next, wall)
              issued.push(next)
            }
            return Either.right({ newest: next, result: issued as ReadonlyArray<Hlc.Hlc> })
          })
          last = out[out.length - 1] ?? last
          return out
        })
      )

    const receive = (remote: Hlc.Hlc) =>
      lock.withPermits(1)(
        Effect.gen(function* () {
          const wall = yield* options.wallClock
          const merged = yield* options.shared.advance((stored) =>
            Either.map(Hlc.receive(floor(stored), remote, wall, maxDriftMillis), (h) => ({
              newest: h,
              result: h
            }))
          )
          last = merged
          return merged
        })
      )

    return {
      device: options.device,
      maxDriftMillis,
      now: Effect.map(nowBatch(1), (hs) => hs[0]!),
      nowBatch,
      receive,
      last: Effect.sync(() => last)
    }
  })
