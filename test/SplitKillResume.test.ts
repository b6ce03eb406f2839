// A split backfill across real processes: daemon B backfills A's 12,000 entries from two daemons at once (A,
// and C, which holds the same entries), splitting them by uuid range; it is SIGKILLed mid-split and restarted,
// and resumes each range from the checkpoint it recorded in sync.db instead of from zero.
import Database from "better-sqlite3"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { join } from "node:path"
import { spawnCli } from "./support/cli.js"
import * as D from "./support/daemons.js"
import * as Probe from "./support/probe.js"
import { tempDir } from "./support/tempDir.js"

const ENTRIES = 12_000
const BATCH = 1_000

const cli = <A = Record<string, unknown>>(args: ReadonlyArray<string>) =>
  Effect.flatMap(spawnCli(args), (r) =>
    r.code === 0
      ? Effect.succeed(JSON.parse(r.stdout) as A)
      : Effect.fail(new Error(`cli.js ${args.join(" ")} exited ${r.code}: ${r.stderr}`))
  )

const received = (dir: string) =>
  Effect.map(
    cli<{ counters: { recordsReceived: number } }>(["status", "--data-dir", dir, "--json"]),
    (s) => s.counters.recordsReceived
  )

/** The ranges of split backfills recorded in a data directory's sync.db. */
const ranges = (dir: string) =>
  Effect.sync(() => {
    const db = new Database(join(dir, "sync.db"), { fileMustExist: true })
    try {
      db.pragma("busy_timeout = 10000")
      return db
        .prepare("SELECT lo, cursor, done, records_done AS recordsDone FROM backfill_ranges ORDER BY lo")
        .all() as ReadonlyArray<{ lo: string; cursor: string; done: number; recordsDone: number }>
    } finally {
      db.close()
    }
  })

describe("kill -9 during a split backfill", () => {
  it.live(
    "a daemon backfilling from two daemons at once, killed mid-split, resumes each range from its checkpoint",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const root = yield* tempDir("tidemark-split-kill-")
          const [dirA, dirB, dirC] = [join(root, "a"), join(root, "b"), join(root, "c")]
          const a = yield* cli<{ deviceId: string; joinCode: string }>(["init", "--data-dir", dirA])
          yield* cli(["join", "--data-dir", dirB, "--code", a.joinCode])
          yield* cli(["join", "--data-dir", dirC, "--code", a.joinCode])
          yield* cli(["generate", "--data-dir", dirA, "--locations", "1", "--entries", String(ENTRIES)])
          const [atA, atB, atC] = [yield* D.freeAddress, yield* D.freeAddress, yield* D.freeAddress]
          const batch = ["--batch-size", String(BATCH)]
          const daemonA = yield* D.start(dirA, { listen: atA, extra: batch })
          const daemonC = yield* D.start(dirC, { listen: atC, peers: [atA], extra: batch })
          yield* Probe.until(Probe.allHold([dirC], "entry", ENTRIES), "C backfilling from A").pipe(
            D.explained([daemonA, daemonC])
          )

          // B splits the entries between A and C; freeze it once it holds 5,000 and kill it there.
          const b1 = yield* D.start(dirB, {
            listen: atB,
            peers: [atA, atC],
            extra: [...batch, "--split-backfill"]
          })
          const atKill = yield* Probe.pauseWhen(
            b1,
            Effect.flatMap(Probe.rowCount(dirB, "entry"), (n) =>
              n >= 5_000
                ? Effect.map(ranges(dirB), (r) => ({ held: n, ranges: r }))
                : Effect.succeed(undefined)
            )
          ).pipe(D.explained([daemonA, daemonC, b1]))
          yield* Probe.kill(b1)
          expect(b1.log()).toContain("Splitting the backfill of entry over 2 peers by uuid range")
          // Two ranges on record, with what was applied of each: their cursors are not ahead of the rows.
          expect(atKill.ranges.length).toBe(2)
          expect(atKill.ranges.some((r) => r.cursor !== "")).toBe(true)
          const recorded = atKill.ranges.reduce((n, r) => n + r.recordsDone, 0)
          expect(recorded).toBeLessThanOrEqual(atKill.held)
          expect(atKill.held).toBeLessThan(ENTRIES)
          const receivedAtKill = yield* received(dirB)

          // Restarted without --split-backfill: a split on record is finished all the same.
          const b2 = yield* D.start(dirB, { listen: atB, peers: [atA, atC], extra: batch })
          yield* D.converged(
            [dirA, dirB, dirC],
            (lines) => lines.filter((l) => l.startsWith('{"resource":"entry"')).length === ENTRIES,
            "60 seconds"
          ).pipe(D.explained([daemonA, daemonC, b2]))
          expect(yield* ranges(dirB)).toEqual([])
          // After the restart: what was missing, plus at most a page per range (applied before the kill but
          // not yet recorded) and the few other rows. From zero it would be another 12,000.
          const rowsOnA = yield* Probe.totalRows(dirA)
          const after = (yield* received(dirB)) - receivedAtKill
          expect(after).toBeLessThanOrEqual(rowsOnA - recorded + 2 * BATCH)
        })
      ),
    120_000
  )
})
