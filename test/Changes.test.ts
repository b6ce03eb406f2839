// The change stream an application watches publishes exactly the rows that changed the stored state: a page
// received twice, or a row older than the stored one, publishes nothing.
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Stream } from "effect"
import * as Hlc from "../src/domain/Hlc.js"
import type { Row } from "../src/domain/Row.js"
import * as Device from "../src/layers/Device.js"
import { Changes } from "../src/services/Changes.js"
import { Library } from "../src/services/Library.js"
import { deviceA, deviceB, deviceC, entryFields, libraryId, tagRow, uuidN } from "./support/fixtures.js"

const entry = (n: number, wall: number): Row => ({
  uuid: uuidN(n),
  version: Hlc.toHlcString(Hlc.make(wall, 0, deviceB)),
  deleted: false,
  owner: deviceB,
  fields: entryFields(n, uuidN(1_000))
})

describe("the change stream", () => {
  it.scopedLive(
    "publishes each row that changed once; nothing for repeats, older versions or refused owners",
    () =>
      Effect.gen(function* () {
        const library = yield* Library
        const changes = yield* Changes
        const entries = yield* Effect.fork(
          Stream.runCollect(Stream.take(yield* changes.subscribe("entry"), 3))
        )
        const tags = yield* Effect.fork(Stream.runCollect(Stream.take(yield* changes.subscribe("tag"), 2)))
        const page = [entry(1, 1_000), entry(2, 1_000)]
        yield* library.applyRemote("entry", page)
        yield* library.applyRemote("entry", page) // the same page again: no change
        yield* library.applyRemote("entry", [entry(1, 500)]) // older than the stored row: no change
        // Newer, but another device's: the store refuses to change a row's owner, so nothing is published.
        yield* library.applyRemote("entry", [
          { ...entry(1, 3_000), owner: deviceC, version: Hlc.toHlcString(Hlc.make(3_000, 0, deviceC)) }
        ])
        yield* library.applyRemote("entry", [entry(2, 2_000)]) // newer: one change
        yield* library.applyRemote("tag", [tagRow(uuidN(7), "a", 1_000, 0, deviceB)])
        yield* library.applyRemote("tag", [tagRow(uuidN(7), "a", 1_000, 0, deviceB)]) // repeat
        yield* library.write("tag", [{ uuid: uuidN(8), fields: { name: "local", color: null } }])
        const seenEntries = Chunk.toReadonlyArray(yield* Fiber.join(entries))
        expect(seenEntries.map((c) => [c.uuid, c.version.slice(0, 12), c.origin])).toEqual([
          [uuidN(1), Hlc.format(Hlc.make(1_000, 0, deviceB)).slice(0, 12), "remote"],
          [uuidN(2), Hlc.format(Hlc.make(1_000, 0, deviceB)).slice(0, 12), "remote"],
          [uuidN(2), Hlc.format(Hlc.make(2_000, 0, deviceB)).slice(0, 12), "remote"]
        ])
        const seenTags = Chunk.toReadonlyArray(yield* Fiber.join(tags))
        expect(seenTags.map((c) => [c.uuid, c.origin])).toEqual([
          [uuidN(7), "remote"],
          [uuidN(8), "local"]
        ])
      }).pipe(Effect.provide(Device.layerMemory({ deviceId: deviceA, libraryId })))
  )
})
