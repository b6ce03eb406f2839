// Several processes of one hub on one PostgreSQL schema: each "process" here is its own build of the hub's
// stores, with its own connection pool, as two daemons would have.
import { expect, it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, TestClock } from "effect"
import * as Hlc from "../src/domain/Hlc.js"
import { FileLibraryCatalog } from "../src/domain/FileLibrary.js"
import type { ResourceType } from "../src/domain/Resource.js"
import * as Device from "../src/layers/Device.js"
import { LibraryDb } from "../src/layers/Sqlite.js"
import { HlcClock } from "../src/services/HlcClock.js"
import { LibraryStore } from "../src/services/LibraryStore.js"
import { deviceA, deviceB, libraryId, tagRow, uuidN } from "./support/fixtures.js"
import { describePostgres, freshSchema, serverForFile } from "./support/postgres.js"

const tag = "tag" as ResourceType

describePostgres("a hub served by several processes", () => {
  const server = serverForFile()
  /** One process of the hub `schema`: its stores over a pool of its own. */
  const hubProcess = (schema: string) =>
    Layer.build(
      Device.layerPostgres(
        { url: server.url(), schema },
        { deviceId: deviceA, libraryId },
        { kinds: FileLibraryCatalog }
      )
    )

  it.scopedLive("a lower seq that commits after a higher one is never passed by a reader's cursor", () =>
    Effect.gen(function* () {
      const schema = freshSchema()
      const p1 = yield* hubProcess(schema)
      const p2 = yield* hubProcess(schema)
      const store1 = Context.get(p1, LibraryStore)
      const store2 = Context.get(p2, LibraryStore)
      const early = tagRow(uuidN(1), "takes its seq first, commits last", 1, 0, deviceB)
      const late = tagRow(uuidN(2), "takes its seq second", 2, 0, deviceB)

      // Process 1 applies a row inside a transaction that stays open until released: its seq is taken, its
      // commit is late.
      const applied = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const slow = yield* Context.get(p1, LibraryDb)
        .withTransaction(
          Effect.zipRight(
            store1.apply(tag, [early]),
            Effect.zipRight(Deferred.succeed(applied, undefined), Deferred.await(release))
          )
        )
        .pipe(Effect.fork)
      yield* Deferred.await(applied)
      // Process 2 applies another row meanwhile; given a second, it commits if nothing holds it back.
      const fast = yield* Effect.fork(store2.apply(tag, [late]))
      yield* Effect.raceFirst(Fiber.join(fast), Effect.sleep("1 second"))

      // A peer pages through process 2 from its cursor, then again after process 1 committed.
      const first = yield* store2.readPage(tag, 0, 100)
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(slow)
      yield* Fiber.join(fast)
      const second = yield* store2.readPage(tag, first.last, 100)

      const seen = [...first.rows, ...second.rows].map((r) => r.uuid)
      expect(seen.sort()).toEqual([early.uuid, late.uuid])
      // Nothing else waits: both rows are stored, in the order of their seqs.
      expect((yield* store2.readAfter(tag, 0, 100)).map((r) => r.uuid).sort()).toEqual([
        early.uuid,
        late.uuid
      ])
    })
  )

  // On the TestClock, which stands still unless moved: every timestamp falls in the same wall millisecond, so
  // only the shared high-water row keeps the two processes' counters apart.
  it.scoped("the processes' clocks issue unique timestamps, each above every one issued before", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(1_700_000_000_000)
      const schema = freshSchema()
      const clocks = [
        Context.get(yield* hubProcess(schema), HlcClock),
        Context.get(yield* hubProcess(schema), HlcClock)
      ]
      // Taking turns: every timestamp is above the one the other process issued just before.
      const turns: Array<string> = []
      for (let i = 0; i < 40; i++) turns.push(Hlc.format(yield* clocks[i % 2]!.now))
      expect(turns.every((h, i) => i === 0 || h > turns[i - 1]!)).toBe(true)
      // At once, in batches: no timestamp is issued twice.
      const batches = yield* Effect.all(
        clocks.flatMap((clock) => Array.from({ length: 10 }, () => clock.nowBatch(25))),
        { concurrency: "unbounded" }
      )
      const all = batches.flat().map(Hlc.format)
      expect(new Set([...all, ...turns]).size).toBe(all.length + turns.length)
      // A remote timestamp merged by one process lifts the other's next timestamp above it too.
      const remote = Hlc.make(1_700_000_060_000, 7, deviceB)
      yield* clocks[0]!.receive(remote)
      expect(Hlc.compare(yield* clocks[1]!.now, remote)).toBe(1)
    })
  )
})
