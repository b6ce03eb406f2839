// The live HLC: the machine's clock (shifted by TIDEMARK_CLOCK_OFFSET_MS, a diagnostic knob for skew tests)
// and its high-water mark persisted in sync.db's hlc_state.
import { Clock, Effect, Layer } from "effect"
import * as HlcClock from "../services/HlcClock.js"
import { LocalDevice } from "../services/LocalDevice.js"
import { storeError, SyncDb } from "./Sqlite.js"

/** Milliseconds added to the physical clock, from TIDEMARK_CLOCK_OFFSET_MS (default 0). */
export const clockOffsetFromEnv = (): number => {
  const raw = process.env.TIDEMARK_CLOCK_OFFSET_MS
  const n = raw === undefined || raw === "" ? 0 : Number(raw)
  return Number.isFinite(n) ? Math.trunc(n) : 0
}

export interface SqliteClockOptions {
  readonly maxDriftMillis?: number
  /** The physical clock (default: Effect's Clock plus TIDEMARK_CLOCK_OFFSET_MS); the simulator skews it. */
  readonly wallClock?: Effect.Effect<number>
}

export const make = (options?: SqliteClockOptions) =>
  Effect.gen(function* () {
    const sql = yield* SyncDb
    const { deviceId } = yield* LocalDevice
    const offset = clockOffsetFromEnv()
    return yield* HlcClock.make({
      device: deviceId,
      wallClock: options?.wallClock ?? Effect.map(Clock.currentTimeMillis, (t) => t + offset),
      ...(options?.maxDriftMillis === undefined ? {} : { maxDriftMillis: options.maxDriftMillis }),
      highWater: {
        load: sql.unsafe<{ h: number }>("SELECT high_water_millis AS h FROM hlc_state WHERE id = 1").pipe(
          Effect.map((rows) => rows[0]?.h ?? 0),
          Effect.mapError(storeError("sync.db", "load clock high-water mark"))
        ),
        save: (millis) =>
          sql
            .unsafe(
              `INSERT INTO hlc_state (id, high_water_millis) VALUES (1, ?)
               ON CONFLICT (id) DO UPDATE SET high_water_millis = max(high_water_millis, excluded.high_water_millis)`,
              [millis]
            )
            .pipe(Effect.asVoid, Effect.mapError(storeError("sync.db", "save clock high-water mark")))
      }
    })
  })

export const layer = (
  options?: SqliteClockOptions
): Layer.Layer<HlcClock.HlcClock, import("../domain/Errors.js").StoreError, SyncDb | LocalDevice> =>
  Layer.effect(HlcClock.HlcClock, make(options))
