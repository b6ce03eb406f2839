// ProgressRecord over sync.db: the watermark, checkpoint and counter writes of one page in one transaction.
import { Effect, Layer } from "effect"
import { ProgressRecord } from "../services/ProgressRecord.js"
import { catchSqlError, SyncDb } from "./Sqlite.js"

export const layer: Layer.Layer<ProgressRecord, never, SyncDb> = Layer.effect(
  ProgressRecord,
  Effect.map(SyncDb, (sql) =>
    ProgressRecord.of({
      together: (effect) => sql.withTransaction(effect).pipe(catchSqlError("sync.db", "record progress"))
    })
  )
)
