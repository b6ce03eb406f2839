// Looking into a running (or killed) daemon's data directory from the test process, and holding a daemon
// still while we look. The files are read with a plain SQLite connection (WAL: readers never block the
// daemon and see only committed rows), so what a probe reports is exactly what the device durably holds.
// `pauseWhen` freezes the daemon (SIGSTOP) between looks, so "kill it when it holds ≥ N rows" is decided
// on a state that cannot move under the test's feet, however loaded the machine is.
import Database from "better-sqlite3"
import { type Duration, Effect } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { FileLibraryCatalog } from "../../src/domain/FileLibrary.js"
import type { ResourceType } from "../../src/domain/Resource.js"
import type { Daemon } from "./daemons.js"

const query = <A>(file: string, f: (db: Database.Database) => A) =>
  Effect.sync(() => {
    const db = new Database(file, { fileMustExist: true })
    try {
      db.pragma("busy_timeout = 10000")
      return f(db)
    } finally {
      db.close()
    }
  })

/** Rows (tombstones included) of one resource kind in a data directory's database.db. */
export const rowCount = (dir: string, resource: ResourceType) =>
  query(
    join(dir, "database.db"),
    (db) => (db.prepare(`SELECT count(*) AS n FROM ${resource}`).get() as { n: number }).n
  )

/** Rows of every resource kind in database.db, summed. */
export const totalRows = (dir: string) =>
  query(join(dir, "database.db"), (db) =>
    FileLibraryCatalog.names.reduce(
      (sum, r) => sum + (db.prepare(`SELECT count(*) AS n FROM ${r}`).get() as { n: number }).n,
      0
    )
  )

/** The highest local seq of a resource kind's table in database.db (0 when empty). */
export const lastSeq = (dir: string, resource: ResourceType) =>
  query(
    join(dir, "database.db"),
    (db) => (db.prepare(`SELECT coalesce(max(seq), 0) AS s FROM ${resource}`).get() as { s: number }).s
  )

/** The uuids of a resource kind's rows with a local seq at or below `seq`. */
export const uuidsUpTo = (dir: string, resource: ResourceType, seq: number) =>
  query(join(dir, "database.db"), (db) =>
    (db.prepare(`SELECT uuid FROM ${resource} WHERE seq <= ?`).all(seq) as Array<{ uuid: string }>).map(
      (r) => r.uuid
    )
  )

/** The highest seq the shared log of sync.db ever handed out (pruned entries included). */
export const lastLogSeq = (dir: string) =>
  query(join(dir, "sync.db"), (db) => {
    const row = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'shared_changes'").get() as
      { seq: number } | undefined
    return row?.seq ?? 0
  })

export interface Watermark {
  readonly peer: string
  readonly resource: ResourceType
  readonly watermark: number
}

/** Every watermark in a data directory's sync.db. */
export const watermarks = (dir: string) =>
  query(join(dir, "sync.db"), (db) =>
    db
      .prepare(
        "SELECT peer_device_uuid AS peer, resource_type AS resource, last_watermark AS watermark FROM device_resource_watermarks"
      )
      .all()
  ) as Effect.Effect<ReadonlyArray<Watermark>>

/** Wait until the kernel reports the process stopped (state T in /proc/PID/stat; elsewhere a short pause). */
const frozen = (daemon: Daemon) =>
  Effect.gen(function* () {
    const stat = `/proc/${daemon.process.pid}/stat`
    if (!existsSync(stat)) return yield* Effect.sleep("50 millis")
    const deadline = Date.now() + 10_000
    for (;;) {
      const text = yield* Effect.try(() => readFileSync(stat, "utf8")).pipe(Effect.orElseSucceed(() => ""))
      // "pid (comm) STATE ...": the state follows the last ")". Gone or a zombie counts as still, too.
      const state = text.slice(text.lastIndexOf(")") + 2, text.lastIndexOf(")") + 3)
      if (state === "T" || state === "t" || state === "Z" || state === "") return
      if (Date.now() > deadline)
        return yield* Effect.fail(new Error(`SIGSTOP did not stop ${stat} (${state})`))
      yield* Effect.sleep("1 millis")
    }
  })

/**
 * Let the daemon run in short slices (SIGCONT … SIGSTOP) and look at its data directory after each one,
 * while it is frozen; returns the first value `look` yields `Some` for, with the daemon still frozen. The
 * caller kills it (SIGKILL works on a stopped process) or resumes it with `resume`. Fails after `timeout`.
 */
export const pauseWhen = <A>(
  daemon: Daemon,
  look: Effect.Effect<A | undefined>,
  options: { readonly sliceMillis?: number; readonly timeout?: number } = {}
) =>
  Effect.gen(function* () {
    const slice = options.sliceMillis ?? 20
    const deadline = Date.now() + (options.timeout ?? 45_000)
    for (;;) {
      daemon.process.kill("SIGSTOP")
      yield* frozen(daemon)
      const seen = yield* look
      if (seen !== undefined) return seen
      if (daemon.process.exitCode !== null || daemon.process.signalCode === "SIGKILL") {
        return yield* Effect.fail(new Error(`daemon exited while the test waited for it:\n${daemon.log()}`))
      }
      if (Date.now() > deadline) {
        daemon.process.kill("SIGCONT")
        return yield* Effect.fail(
          new Error(`daemon did not reach the expected state in time:\n${daemon.log()}`)
        )
      }
      daemon.process.kill("SIGCONT")
      yield* Effect.sleep(`${slice} millis`)
    }
  })

/** Poll `check` (cheap: a count, not a dump) until it holds; fails with `what` after `timeout`. */
export const until = (
  check: Effect.Effect<boolean>,
  what: string,
  timeout: Duration.DurationInput = "45 seconds"
) =>
  Effect.gen(function* () {
    while (!(yield* check)) yield* Effect.sleep("100 millis")
  }).pipe(Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error(`${what}: not in time`) }))

/** Every directory holds exactly `n` rows of `resource`. */
export const allHold = (dirs: ReadonlyArray<string>, resource: ResourceType, n: number) =>
  Effect.map(
    Effect.forEach(dirs, (dir) => rowCount(dir, resource)),
    (counts) => counts.every((c) => c === n)
  )

/** Let a daemon frozen by `pauseWhen` run again. */
export const resume = (daemon: Daemon) => Effect.sync(() => void daemon.process.kill("SIGCONT"))

/** SIGKILL and wait until the process is gone. */
export const kill = (daemon: Daemon) =>
  Effect.zipRight(
    Effect.sync(() => daemon.process.kill("SIGKILL")),
    daemon.exited
  )
