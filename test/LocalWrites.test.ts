// A local write that meets a newer version stored by another process of the same device (a CLI beside the
// daemon, another process of a hub) is stamped again past that version, so the newest local write wins; one
// that meets another device's row fails; one that keeps losing fails rather than looping for ever.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit, Option, Ref, Schema } from "effect"
import { schema, unsafeCompile } from "../src/domain/Catalog.js"
import * as Hlc from "../src/domain/Hlc.js"
import { type DeviceId, newDeviceId, newUuid } from "../src/domain/Ids.js"
import { owned } from "../src/domain/Resource.js"
import type { Row, StoredRow } from "../src/domain/Row.js"
import * as HlcClockTest from "../src/layers/HlcClockTest.js"
import { HlcClock } from "../src/services/HlcClock.js"
import * as LocalWrites from "../src/services/LocalWrites.js"

const Note = owned("note", { title: Schema.String })
const catalog = unsafeCompile(schema(Note))
const device = newDeviceId()
const uuid = newUuid()

/** A row stored by "another process": the same uuid, a version `aheadMillis` past `row`'s, `owner` as given. */
const storedAhead = (row: Row, aheadMillis: number, owner: DeviceId | null): StoredRow => {
  const version = Either.getOrThrow(Hlc.parse(row.version))
  return {
    ...row,
    owner,
    version: Hlc.toHlcString(Hlc.make(version.wall + aheadMillis, 0, device)),
    seq: 1
  }
}

/**
 * `writeLocal` over a store that refuses the first `losses` batches, each losing to a row stored one minute
 * past the batch's version; it records the versions of every batch it was given.
 */
const writeLocalLosing = (losses: number, owner: (row: Row) => DeviceId | null = (row) => row.owner) =>
  Effect.gen(function* () {
    const clock = yield* HlcClock
    const attempts = yield* Ref.make<ReadonlyArray<Row>>([])
    const writeLocal = LocalWrites.make({
      store: "test",
      catalog,
      deviceId: device,
      clock,
      writeStamped: (_resource, rows) =>
        Ref.updateAndGet(attempts, (all) => [...all, ...rows]).pipe(
          Effect.map((all) =>
            all.length <= losses
              ? {
                  written: [],
                  lost: rows.map((row) => ({
                    row,
                    stored: Option.some(storedAhead(row, 60_000, owner(row)))
                  }))
                }
              : { written: rows.map((row, i) => ({ ...row, seq: i + 1 })), lost: [] }
          )
        )
    })
    return { writeLocal, attempts }
  })

const clockLayer = HlcClockTest.layer({ device })

describe("local writes", () => {
  it.effect(
    "a write that loses to a newer version of its own device is stamped again past that version",
    () =>
      Effect.gen(function* () {
        const { attempts, writeLocal } = yield* writeLocalLosing(1)
        const written = yield* writeLocal("note", [{ uuid, fields: { title: "milk" } }])
        const [first, second] = yield* Ref.get(attempts)
        expect(written).toHaveLength(1)
        expect(written[0]!.version).toBe(second!.version)
        // The second stamp is past the version the first one lost to.
        expect(second!.version > storedAhead(first!, 60_000, null).version).toBe(true)
      }).pipe(Effect.provide(clockLayer))
  )

  it.effect("a write that meets another device's row fails with NotOwnerError", () =>
    Effect.gen(function* () {
      const { writeLocal } = yield* writeLocalLosing(1, () => newDeviceId())
      const exit = yield* Effect.exit(writeLocal("note", [{ uuid, fields: { title: "milk" } }]))
      expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toContain("NotOwnerError")
    }).pipe(Effect.provide(clockLayer))
  )

  it.effect("a write that keeps losing fails with a StoreError after a bounded number of stamps", () =>
    Effect.gen(function* () {
      const { attempts, writeLocal } = yield* writeLocalLosing(1_000)
      const exit = yield* Effect.exit(writeLocal("note", [{ uuid, fields: { title: "milk" } }]))
      expect(Exit.isFailure(exit) && JSON.stringify(exit.cause)).toContain("kept losing")
      expect((yield* Ref.get(attempts)).length).toBe(5)
    }).pipe(Effect.provide(clockLayer))
  )

  it.effect("fields the kind's Schema refuses fail before anything is stamped", () =>
    Effect.gen(function* () {
      const { attempts, writeLocal } = yield* writeLocalLosing(0)
      const exit = yield* Effect.exit(writeLocal("note", [{ uuid, fields: { title: 42 } }]))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(yield* Ref.get(attempts)).toHaveLength(0)
    }).pipe(Effect.provide(clockLayer))
  )
})
