import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { FileLibraryCatalog } from "../src/domain/FileLibrary.js"
import * as ChangeFeed from "../src/services/ChangeFeed.js"
import { Kinds } from "../src/services/Kinds.js"

describe("ChangeFeed", () => {
  it.live("a signal taken before a publish of its kind fires; other kinds' publishes leave it waiting", () =>
    Effect.gen(function* () {
      const feed = yield* ChangeFeed.make
      const tagSignal = yield* feed.next("tag")
      const entrySignal = yield* feed.next("entry")
      yield* feed.publish(["tag"])
      expect(yield* ChangeFeed.waitFor(tagSignal, 50)).toBe(true)
      expect(yield* ChangeFeed.waitFor(entrySignal, 20)).toBe(false)
      // A publish of every kind (another process wrote) wakes the entry waiter too.
      yield* feed.publish()
      expect(yield* ChangeFeed.waitFor(entrySignal, 50)).toBe(true)
      // A signal taken after a publish waits for the next one.
      const later = yield* feed.next("tag")
      expect(yield* ChangeFeed.waitFor(later, 20)).toBe(false)
    }).pipe(Effect.provideService(Kinds, FileLibraryCatalog))
  )
})
