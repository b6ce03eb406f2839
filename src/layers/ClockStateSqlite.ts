// ClockState over sync.db's hlc_state: the high-water mark the live clock persists (HlcClockSqlite).
import { Effect, Layer } from "effect"
import { join } from "node:path"
import type { DatabaseOpenError } from "../domain/Errors.js"
import { ClockState } from "../services/Inspect.js"
import { SYNC_FILE } from "./Device.js"
import { storeError, SyncDb } from "./Sqlite.js"
import * as SyncDbSchema from "./SyncDbSchema.js"

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

/** Over its own connection to the sync.db of a data directory. */
export const layerDataDir = (dataDir: string): Layer.Layer<ClockState, DatabaseOpenError> =>
  layer.pipe(Layer.provide(SyncDbSchema.layer(join(dataDir, SYNC_FILE))))
