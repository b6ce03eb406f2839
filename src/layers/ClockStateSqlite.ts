// ClockState over sync.db's hlc_state: the high-water mark the live clock persists (HlcClockSqlite).
import { Effect, Layer } from "effect"
import { ClockState } from "../services/Inspect.js"
import { storeError, SyncDb } from "./Sqlite.js"

export const make = Effect.map(SyncDb, (sql) =>
  ClockState.of({
    highWaterMillis: sql
      .unsafe<{ h: number }>("SELECT high_water_millis AS h FROM hlc_state WHERE id = 1")
      .pipe(
        Effect.map((rows) => rows[0]?.h ?? 0),
        Effect.mapError(storeError("sync.db", "read clock high-water mark"))
      )
  })
)

export const layer: Layer.Layer<ClockState, never, SyncDb> = Layer.effect(ClockState, make)
