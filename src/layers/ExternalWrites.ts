// Rows that another process (the CLI, an indexer) commits to the same database.db reach peers promptly.
// SQLite's `PRAGMA data_version` changes on a connection whenever *another* connection commits to the file,
// and never for that connection's own commits. Polling it on the daemon's own database.db connection is
// therefore a cheap, exact "someone else wrote" signal: when it changes, publish on the ChangeFeed, which
// wakes the pulls that peers hold open. Keeps: a commit by another process is noticed within one interval.
import { Duration, Effect, Schedule } from "effect"
import { ChangeFeed } from "../services/ChangeFeed.js"
import { LibraryDb } from "./Sqlite.js"

export const DEFAULT_INTERVAL_MILLIS = 250

/** Poll until interrupted (fork it in the daemon's scope). A failed poll is logged and retried next time. */
export const watch = (intervalMillis: number = DEFAULT_INTERVAL_MILLIS) =>
  Effect.gen(function* () {
    const sql = yield* LibraryDb
    const feed = yield* ChangeFeed
    const read = Effect.map(
      sql.unsafe<{ data_version: number }>("PRAGMA data_version"),
      (rows) => rows[0]?.data_version ?? 0
    )
    let last = yield* read
    const poll = read.pipe(
      Effect.flatMap((version) => {
        if (version === last) return Effect.void
        last = version
        return Effect.zipRight(
          Effect.logDebug("database.db was changed by another process: waking peers' streams"),
          feed.publish()
        )
      }),
      Effect.catchAll((e) =>
        Effect.logWarning(`Could not check database.db for outside writes: ${e.message}`)
      )
    )
    return yield* Effect.repeat(poll, Schedule.spaced(Duration.millis(intervalMillis))).pipe(
      Effect.zipRight(Effect.never)
    )
  })
