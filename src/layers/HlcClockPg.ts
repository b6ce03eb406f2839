// The HLC of a hub on PostgreSQL, shared by every process that serves the hub: the newest issued timestamp
// is the hub's hlc_state row, read and raised under the row's lock (SELECT … FOR UPDATE) in one transaction
// per batch, so two processes never issue the same timestamp and neither issues one below the other's.
import { Clock, Effect, Either, Layer } from "effect"
import * as Hlc from "../domain/Hlc.js"
import type { StoreError } from "../domain/Errors.js"
import * as HlcClock from "../services/HlcClock.js"
import { ClockState } from "../services/Inspect.js"
import { LocalDevice } from "../services/LocalDevice.js"
import { clockOffsetFromEnv } from "./HlcClockSqlite.js"
import { storeError } from "./Postgres.js"
import { SyncDb } from "./Sqlite.js"

/** The step's own failure, carried through the rolled-back transaction. */
class StepFailed<E> {
  constructor(readonly error: E) {}
}

/**
 * `wallClock` (default: Effect's Clock, moved by TIDEMARK_CLOCK_OFFSET_MS) is this process's idea of the time;
 * the simulator gives each device its own skew with it.
 */
export const make = (options?: {
  readonly maxDriftMillis?: number
  readonly wallClock?: Effect.Effect<number>
}) =>
  Effect.gen(function* () {
    const sql = yield* SyncDb
    const { deviceId } = yield* LocalDevice
    const offset = clockOffsetFromEnv()
    const advance = <A, E>(
      step: (
        stored: Hlc.Hlc | undefined
      ) => Either.Either<{ readonly newest: Hlc.Hlc; readonly result: A }, E>
    ): Effect.Effect<A, E | StoreError> =>
      sql
        .withTransaction(
          Effect.gen(function* () {
            const [row] = yield* sql.unsafe<{ hlc: string | null }>(
              "SELECT last_hlc AS hlc FROM hlc_state WHERE id = 1 FOR UPDATE"
            )
            const parsed = row?.hlc == null ? undefined : Hlc.parse(row.hlc)
            if (parsed !== undefined && Either.isLeft(parsed)) {
              return yield* Effect.dieMessage(`hlc_state holds an unreadable timestamp ${row!.hlc}`)
            }
            const outcome = step(parsed?.right)
            // Failing the transaction rolls it back: nothing is stored, the lock is released.
            if (Either.isLeft(outcome)) return yield* Effect.fail(new StepFailed<E>(outcome.left))
            yield* sql.unsafe("UPDATE hlc_state SET last_hlc = $1, high_water_millis = $2 WHERE id = 1", [
              Hlc.format(outcome.right.newest),
              outcome.right.newest.wall
            ])
            return outcome.right.result
          })
        )
        .pipe(
          Effect.catchAll((e) =>
            Effect.fail(e instanceof StepFailed ? (e.error as E) : storeError("advance the clock")(e))
          )
        )
    return yield* HlcClock.makeShared({
      device: deviceId,
      wallClock: options?.wallClock ?? Effect.map(Clock.currentTimeMillis, (t) => t + offset),
      shared: { advance },
      ...(options?.maxDriftMillis === undefined ? {} : { maxDriftMillis: options.maxDriftMillis })
    })
  })

export const layer = (options?: {
  readonly maxDriftMillis?: number
  readonly wallClock?: Effect.Effect<number>
}): Layer.Layer<HlcClock.HlcClock, StoreError, SyncDb | LocalDevice> =>
  Layer.effect(HlcClock.HlcClock, make(options))

/** The hub clock's persisted state, for `inspect`. */
export const clockStateLayer: Layer.Layer<ClockState, never, SyncDb> = Layer.effect(
  ClockState,
  Effect.map(SyncDb, (sql) =>
    ClockState.of({
      highWaterMillis: sql
        .unsafe<{ h: number }>("SELECT high_water_millis AS h FROM hlc_state WHERE id = 1")
        .pipe(
          Effect.map((rows) => rows[0]?.h ?? 0),
          Effect.mapError(storeError("read clock high-water mark"))
        )
    })
  )
)
