// How `daemon --location PATH` indexes one folder: the same indexer as `tidemark index` (app/Indexer.ts),
// with the data directory excluded in case it lies inside the folder. LocationWatcher does the initial index,
// the watching and the debounced re-index; this says in the log what each run changed.
import { Effect } from "effect"
import { indexFolder } from "../../app/Indexer.js"

/** Index the folder at a path, excluding `dataDir`, and log what changed. */
export const indexLocation = (dataDir: string) => (path: string) =>
  Effect.tap(indexFolder(path, { exclude: [dataDir] }), (s) =>
    s.added + s.updated + s.removed === 0
      ? Effect.logDebug(`Indexed ${s.path}: no changes (${s.entries} files and folders)`)
      : Effect.logInfo(
          `Indexed ${s.path}: ${s.added} added, ${s.updated} updated, ${s.removed} removed ` +
            `(${s.entries} files and folders${s.skipped > 0 ? `, ${s.skipped} skipped` : ""})`
        )
  )
