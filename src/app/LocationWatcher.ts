// Keeps a folder's index current while the daemon runs: index once at start, then again whenever the folder
// changes — changes are debounced (a burst of file events becomes one re-index after things settle), and
// re-indexing never runs twice at once. Watching is recursive `fs.watch` where the platform supports it;
// otherwise (or when the watch fails) the folder is rescanned periodically. Keeps: an index failure is
// logged and retried on the next change or rescan; it never stops the daemon.
import { Duration, Effect, Fiber, Queue, Schedule, Stream } from "effect"
import * as Fs from "node:fs"
import { join, resolve, sep } from "node:path"

/** How a folder is watched. */
export interface WatchOptions {
  /** Quiet time after the last change before re-indexing. */
  readonly debounceMillis: number
  /** Rescan interval when the folder cannot be watched. */
  readonly rescanMillis: number
  /** Changes under these paths are not the folder's own (for example a data directory inside it). */
  readonly ignore: ReadonlyArray<string>
}

/** Re-index 500 ms after the last change; rescan every 30 s when the folder cannot be watched. */
export const defaultWatchOptions: WatchOptions = { debounceMillis: 500, rescanMillis: 30_000, ignore: [] }

const within = (path: string, dir: string) =>
  path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep)

/** Index `path` now and after every change, until interrupted. */
export const watch = <E, R>(
  path: string,
  index: (path: string) => Effect.Effect<unknown, E, R>,
  options: WatchOptions = defaultWatchOptions
): Effect.Effect<never, never, R> =>
  Effect.gen(function* () {
    const root = resolve(path)
    const ignore = options.ignore.map((p) => resolve(p))
    const reindex = (why: string) =>
      Effect.gen(function* () {
        const start = performance.now()
        yield* index(root)
        yield* Effect.logDebug(`Indexed ${root} (${why}) in ${Math.round(performance.now() - start)} ms`)
      }).pipe(
        Effect.catchAllCause((cause) =>
          Effect.logWarning(`Could not index ${root}; will try again on the next change`, cause)
        )
      )

    const changes = yield* Queue.sliding<void>(1)
    const watcher = yield* Effect.acquireRelease(
      Effect.try(() => {
        const w = Fs.watch(root, { recursive: true, persistent: false }, (_event, filename) => {
          const changed = filename === null ? root : join(root, filename.toString())
          if (!ignore.some((dir) => within(changed, dir))) changes.unsafeOffer(undefined)
        })
        w.on("error", () => {}) // reported below via the fallback
        return w
      }).pipe(Effect.option),
      (w) => Effect.sync(() => w._tag === "Some" && w.value.close())
    )

    // Watching starts before the first scan, so a change made while it runs triggers another one.
    yield* reindex("at start")

    if (watcher._tag === "None") {
      yield* Effect.logInfo(
        `Cannot watch ${root} for changes here; rescanning it every ${options.rescanMillis / 1000} s`
      )
      return yield* reindex("periodic rescan").pipe(
        Effect.repeat(Schedule.spaced(Duration.millis(options.rescanMillis))),
        Effect.zipRight(Effect.never)
      )
    }
    yield* Effect.logInfo(`Watching ${root} for changes`)
    // A watcher that dies (folder removed, too many watches) falls back to rescanning.
    const failed = yield* Effect.async<void>((resume) => {
      watcher.value.once("error", () => resume(Effect.void))
    }).pipe(Effect.fork)
    const follow = Stream.fromQueue(changes).pipe(
      Stream.debounce(Duration.millis(options.debounceMillis)),
      Stream.runForEach(() => reindex("changed")),
      Effect.fork
    )
    const follower = yield* follow
    yield* Fiber.join(failed)
    yield* Fiber.interrupt(follower)
    yield* Effect.logWarning(`Lost the watch on ${root}; rescanning every ${options.rescanMillis / 1000} s`)
    return yield* reindex("periodic rescan").pipe(
      Effect.repeat(Schedule.spaced(Duration.millis(options.rescanMillis))),
      Effect.zipRight(Effect.never)
    )
  }).pipe(Effect.scoped)
