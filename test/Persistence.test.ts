import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Context, Effect, Either, Layer, Option, TestClock } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Hlc from "../src/domain/Hlc.js"
import * as Device from "../src/layers/Device.js"
import { CheckpointStore } from "../src/services/CheckpointStore.js"
import { HlcClock } from "../src/services/HlcClock.js"
import { Library } from "../src/services/Library.js"
import { LibraryStore } from "../src/services/LibraryStore.js"
import { ProgressRecord } from "../src/services/ProgressRecord.js"
import { SharedLog } from "../src/services/SharedLog.js"
import { SyncMetrics } from "../src/services/SyncMetrics.js"
import { WatermarkStore } from "../src/services/WatermarkStore.js"
import { deviceA, deviceB, deviceC, entryFields, libraryId, uuidN } from "./support/fixtures.js"
import { tempDir } from "./support/tempDir.js"

const onDisk = (dir: string) => Device.layerSqlite(dir, { deviceId: deviceA, libraryId })

describe("the two SQLite stores", () => {
  it.live("after closing and reopening both databases the HLC is ahead of everything it issued", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const issued = yield* Effect.gen(function* () {
          const library = yield* Library
          const clock = yield* HlcClock
          const location = uuidN(500)
          yield* library.write("location", [
            { uuid: location, fields: { volume: null, path: "/p", name: "p" } }
          ])
          const entries = yield* library.write(
            "entry",
            Array.from({ length: 100 }, (_, i) => ({ uuid: uuidN(i + 1), fields: entryFields(i, location) }))
          )
          const tags = yield* library.write("tag", [{ uuid: uuidN(900), fields: { name: "t", color: null } }])
          const last = yield* clock.last
          return [...entries.map((r) => r.version), tags[0]!.version, Hlc.format(last)].sort().at(-1)!
        }).pipe(Effect.provide(onDisk(dir)))

        // The wall clock now runs an hour behind: the restarted clock must still be ahead.
        process.env.TIDEMARK_CLOCK_OFFSET_MS = String(-3_600_000)
        const after = yield* Effect.gen(function* () {
          const clock = yield* HlcClock
          const store = yield* LibraryStore
          expect(yield* store.countAfter("entry", 0)).toBe(100)
          expect(Option.isSome(yield* store.get("tag", uuidN(900)))).toBe(true)
          return Hlc.format(yield* clock.now)
        }).pipe(
          Effect.provide(onDisk(dir)),
          Effect.ensuring(Effect.sync(() => delete process.env.TIDEMARK_CLOCK_OFFSET_MS))
        )
        expect(after > issued).toBe(true)
      })
    )
  )

  it.live("a corrupt database.db fails with an error naming the file, not a defect", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir()
        writeFileSync(join(dir, "database.db"), "this is not a database, just some bytes ".repeat(200))
        const result = yield* Effect.either(Effect.provide(Effect.void, onDisk(dir)))
        expect(Either.isLeft(result) && result.left._tag).toBe("DatabaseOpenError")
        expect(Either.isLeft(result) && result.left.message).toContain(join(dir, "database.db"))
      })
    )
  )

  it.live("a missing data directory fails with an error naming it", () =>
    Effect.gen(function* () {
      const result = yield* Effect.either(Effect.provide(Effect.void, onDisk("/nonexistent/tidemark-data")))
      expect(Either.isLeft(result) && result.left._tag).toBe("DatabaseOpenError")
      expect(Either.isLeft(result) && result.left.message).toContain("/nonexistent/tidemark-data")
    })
  )

  it.live("a corrupt sync.db fails with an error naming sync.db", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir()
        mkdirSync(dir, { recursive: true })
        writeFileSync(join(dir, "sync.db"), Buffer.alloc(8192, 7))
        const result = yield* Effect.either(Effect.provide(Effect.void, onDisk(dir)))
        expect(Either.isLeft(result) && result.left._tag).toBe("DatabaseOpenError")
        expect(Either.isLeft(result) && result.left.message).toContain("sync.db")
      })
    )
  )

  it.live("a shared change logged but not applied before a crash is applied on the next start", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const row = {
          uuid: uuidN(77),
          version: Hlc.toHlcString(Hlc.make(5, 0, deviceA)),
          deleted: false,
          owner: null,
          fields: { name: "logged only", color: null }
        }
        // The crash: the log append committed, the apply to database.db never happened.
        yield* Effect.flatMap(SharedLog, (log) => log.append([{ resource: "tag", row }])).pipe(
          Effect.provide(onDisk(dir))
        )
        const recovered = yield* Effect.gen(function* () {
          const store = yield* LibraryStore
          const log = yield* SharedLog
          expect(yield* log.unapplied(10)).toHaveLength(0)
          return yield* store.get("tag", uuidN(77))
        }).pipe(Effect.provide(onDisk(dir)))
        expect(Option.map(recovered, (r) => r.fields.name)).toEqual(Option.some("logged only"))
      })
    )
  )

  it.live("a page's progress is written whole or not at all: watermark, checkpoint and counters", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const record = (fail: boolean) =>
          Effect.gen(function* () {
            const marks = yield* WatermarkStore
            const checkpoints = yield* CheckpointStore
            const metrics = yield* SyncMetrics
            const progress = yield* ProgressRecord
            return yield* progress
              .together(
                Effect.gen(function* () {
                  yield* marks.advance(deviceB, "entry", 1_000)
                  yield* metrics.received(deviceB, 1_000, 10_000)
                  yield* checkpoints.save(deviceB, "entry", {
                    cursor: 1_000,
                    recordsDone: 1_000,
                    totalExpected: 5_000,
                    logStart: 0
                  })
                  if (fail) return yield* Effect.fail("the process died here")
                })
              )
              .pipe(Effect.either)
          })
        const state = Effect.gen(function* () {
          const counters = yield* Effect.flatMap(SyncMetrics, (m) => m.counters)
          return {
            watermark: yield* Effect.flatMap(WatermarkStore, (w) => w.get(deviceB, "entry")),
            checkpoints: (yield* Effect.flatMap(CheckpointStore, (c) => c.list)).length,
            received: counters.get(deviceB)?.recordsReceived ?? 0
          }
        })
        yield* record(true).pipe(Effect.provide(onDisk(dir)))
        expect(yield* state.pipe(Effect.provide(onDisk(dir)))).toEqual({
          watermark: 0,
          checkpoints: 0,
          received: 0
        })
        yield* record(false).pipe(Effect.provide(onDisk(dir)))
        expect(yield* state.pipe(Effect.provide(onDisk(dir)))).toEqual({
          watermark: 1_000,
          checkpoints: 1,
          received: 1_000
        })
      })
    )
  )

  it.scoped("sent counts reach sync.db within a second while the device runs", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      const metrics = Context.get(yield* Layer.build(onDisk(dir)), SyncMetrics)
      // What another process (a `status` beside the daemon) reads.
      const stored = () => {
        const db = new Database(join(dir, "sync.db"), { readonly: true })
        try {
          const row = db
            .prepare("SELECT records_sent AS n FROM peer_counters WHERE peer_device_uuid = ?")
            .get(deviceB) as { n: number } | undefined
          return row?.n ?? 0
        } finally {
          db.close()
        }
      }
      yield* metrics.sent(deviceB, 3, 300)
      yield* metrics.sent(deviceB, 2, 200)
      expect(stored()).toBe(0)
      expect((yield* metrics.counters).get(deviceB)?.recordsSent).toBe(5)
      yield* TestClock.adjust(1_000)
      expect(stored()).toBe(5)
      expect((yield* metrics.counters).get(deviceB)?.recordsSent).toBe(5)
    })
  )

  it.live("sync counters survive a restart and keep adding up per peer", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const count = Effect.gen(function* () {
          const metrics = yield* SyncMetrics
          yield* metrics.received(deviceB, 10, 1_000)
          yield* metrics.sent(deviceB, 3, 300)
          yield* metrics.sent(deviceC, 1, 50)
          return yield* metrics.counters
        })
        yield* count.pipe(Effect.provide(onDisk(dir)))
        const counters = yield* count.pipe(Effect.provide(onDisk(dir)))
        expect(counters.get(deviceB)).toEqual({
          recordsReceived: 20,
          bytesReceived: 2_000,
          recordsSent: 6,
          bytesSent: 600
        })
        expect(counters.get(deviceC)).toEqual({
          recordsReceived: 0,
          bytesReceived: 0,
          recordsSent: 2,
          bytesSent: 100
        })
      })
    )
  )

  it.live("watermarks and checkpoints survive a restart, and a watermark never moves back", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir()
        yield* Effect.gen(function* () {
          const marks = yield* WatermarkStore
          const checkpoints = yield* CheckpointStore
          yield* marks.advance(deviceB, "location", 10)
          yield* marks.advance(deviceB, "entry", 3000)
          yield* marks.advance(deviceB, "entry", 2000)
          yield* checkpoints.save(deviceB, "entry", {
            cursor: 3000,
            recordsDone: 3,
            totalExpected: 30,
            logStart: 0
          })
        }).pipe(Effect.provide(onDisk(dir)))
        yield* Effect.gen(function* () {
          const marks = yield* WatermarkStore
          const checkpoints = yield* CheckpointStore
          expect(yield* marks.get(deviceB, "location")).toBe(10)
          expect(yield* marks.get(deviceB, "entry")).toBe(3000)
          expect(yield* marks.get(deviceB, "tag")).toBe(0)
          expect((yield* marks.list).map((m) => [m.resource, m.watermark])).toEqual([
            ["entry", 3000],
            ["location", 10]
          ])
          const cp = yield* checkpoints.get(deviceB, "entry")
          expect(Option.map(cp, (c) => [c.cursor, c.recordsDone, c.totalExpected])).toEqual(
            Option.some([3000, 3, 30])
          )
          yield* checkpoints.clear(deviceB, "entry")
          expect(yield* checkpoints.list).toHaveLength(0)
        }).pipe(Effect.provide(onDisk(dir)))
      })
    )
  )
})

describe("two processes of one device on the same files", () => {
  it.live("a write from a process whose clock is behind still wins over an earlier write of the other", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const dir = yield* tempDir()
        const behind = yield* Layer.build(onDisk(dir))
        process.env.TIDEMARK_CLOCK_OFFSET_MS = "60000"
        const ahead = yield* Layer.build(onDisk(dir)).pipe(
          Effect.ensuring(Effect.sync(() => delete process.env.TIDEMARK_CLOCK_OFFSET_MS))
        )
        const uuid = uuidN(5)
        yield* Effect.flatMap(LibraryStore, (s) =>
          s.writeLocal("tag", [{ uuid, fields: { name: "first", color: null } }])
        ).pipe(Effect.provide(ahead))
        yield* Effect.flatMap(LibraryStore, (s) =>
          s.writeLocal("tag", [{ uuid, fields: { name: "second", color: null } }])
        ).pipe(Effect.provide(behind))
        const row = yield* Effect.flatMap(LibraryStore, (s) => s.get("tag", uuid)).pipe(Effect.provide(ahead))
        expect(Option.map(row, (r) => r.fields.name)).toEqual(Option.some("second"))
      })
    )
  )
})
