// WIRING POINT for `daemon --location PATH`: how the daemon indexes one folder. The folder indexer
// (src/services/Indexer.ts, shared with `tidemark index`) has not landed yet; until it does, indexing a
// location fails with a clear message that the daemon logs (and it keeps running). When it lands, call it
// here — LocationWatcher already does the initial index, the watching and the debounced re-index.
import { Effect } from "effect"

export class IndexerUnavailable extends Error {
  readonly _tag = "IndexerUnavailable"
}

export const indexLocation = (path: string): Effect.Effect<void, IndexerUnavailable> =>
  Effect.fail(new IndexerUnavailable(`cannot index ${path}: this build has no folder indexer yet`))
