// The openings a serving process records in its files (services/Openings.ts): what an opening vouched for is
// exactly the file's committed end when it was raised, never more (a backup then holds it at or below its own
// end), and it survives a restart unchanged (so a restart makes no peer reconcile).
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as Device from "../src/layers/Device.js"
import { Library } from "../src/services/Library.js"
import { LibraryStore } from "../src/services/LibraryStore.js"
import { SharedLog } from "../src/services/SharedLog.js"
import { deviceA, libraryId, uuidN } from "./support/fixtures.js"
import { tempDir } from "./support/tempDir.js"

const onDisk = (dir: string) => Device.layerSqlite(dir, { deviceId: deviceA, libraryId })

/** Write location n and tag n: a table seq each, and a shared-log seq for the tag. */
const writeBoth = (n: number) =>
  Effect.flatMap(Library, (l) =>
    Effect.zipRight(
      l.write("location", [{ uuid: uuidN(n), fields: { volume: null, path: `/${n}`, name: `l${n}` } }]),
      l.write("tag", [{ uuid: uuidN(500 + n), fields: { name: `t${n}`, color: null } }])
    )
  )

/** Both files' openings, and their committed ends: the tables' last seq handed out, the log's last seq. */
const stores = Effect.gen(function* () {
  const store = yield* LibraryStore
  const log = yield* SharedLog
  const tableEnd = Effect.map(Effect.all([store.lastSeq("location"), store.lastSeq("tag")]), ([a, b]) =>
    Math.max(a, b)
  )
  return {
    tables: store.openings!,
    log: log.openings!,
    tableEnd,
    logEnd: Effect.map(log.bounds, (b) => b.last)
  }
})

describe("openings", () => {
  it.scoped("vouch for exactly the committed end, know only their own ids, and survive a restart", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir()
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* Effect.forEach([1, 2, 3], writeBoth)
          const s = yield* stores
          yield* s.tables.open("first")
          yield* s.log.open("first")
          expect(yield* s.tables.served("first")).toEqual(Option.some(yield* s.tableEnd))
          expect(yield* s.log.served("first")).toEqual(Option.some(yield* s.logEnd))
          yield* Effect.forEach([4, 5], writeBoth)
          // Nothing vouched for the new rows yet; raising it takes the end as it is now.
          expect(Option.getOrThrow(yield* s.tables.served("first"))).toBeLessThan(yield* s.tableEnd)
          expect(yield* s.tables.vouch("first")).toBe(yield* s.tableEnd)
          expect(yield* s.log.vouch("first")).toBe(yield* s.logEnd)
          expect(yield* s.tables.served("elsewhere")).toEqual(Option.none())
          expect(yield* s.log.served("elsewhere")).toEqual(Option.none())
        }).pipe(Effect.provide(onDisk(dir)))
      )
      // A restart: the opening and what it vouched for are as they were; a new one starts at the end.
      yield* Effect.scoped(
        Effect.gen(function* () {
          const s = yield* stores
          expect(yield* s.tables.served("first")).toEqual(Option.some(yield* s.tableEnd))
          expect(yield* s.log.served("first")).toEqual(Option.some(yield* s.logEnd))
          yield* writeBoth(6)
          yield* s.tables.open("second")
          yield* s.log.open("second")
          expect(Option.getOrThrow(yield* s.tables.served("first"))).toBeLessThan(yield* s.tableEnd)
          expect(yield* s.tables.served("second")).toEqual(Option.some(yield* s.tableEnd))
        }).pipe(Effect.provide(onDisk(dir)))
      )
    })
  )
})
