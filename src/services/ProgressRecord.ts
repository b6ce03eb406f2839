// Where a pull stands after a page is three records in sync.db: the watermark, the backfill checkpoint and
// the received counters. They are written together, in one sync.db transaction, so that after a crash they
// agree: the counters and the checkpoint are never a page behind the watermark, and a resumed backfill
// counts each page it applied exactly once. (The watermark is never ahead of database.db either way: the
// page is committed there first.)
import { Context, Effect, Layer } from "effect"
import type { StoreError } from "../domain/Errors.js"

export class ProgressRecord extends Context.Tag("tidemark/ProgressRecord")<
  ProgressRecord,
  {
    /** Run the writes of `effect` to the coordination stores as one transaction. */
    readonly together: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | StoreError, R>
  }
>() {}

/** For the memory stores: their writes cannot be torn by a crash (nothing of them survives one). */
export const layerMemory: Layer.Layer<ProgressRecord> = Layer.succeed(ProgressRecord, {
  together: (effect) => effect
})
