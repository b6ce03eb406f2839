// A second instance of a device (another process, or a second Layer) writing the same data directory: its
// commits reach the device's peers at once, not at the end of their live wait.
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Schedule, Schema } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Resource, Storage, Tidemark } from "tidemark"
import * as Testing from "tidemark/testing"

const Note = Resource.owned("note", { title: Schema.String })
const App = Tidemark.schema(Note)

describe("a second instance writing a device's directory", () => {
  it.scopedLive("wakes the peers' live pulls: the row arrives well inside the 20 s live wait", () =>
    Effect.gen(function* () {
      const dir = mkdtempSync(join(tmpdir(), "tidemark-second-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
      const library = Tidemark.newLibrary()
      const deviceA = Tidemark.newDevice()
      // The default live wait (20 s): a peer hears of a commit early only if something wakes its pull.
      const options = { ...Testing.fastOptions, liveWaitMillis: 20_000 }
      const start = (
        device: string,
        storage: Storage.Storage & { _tag: "Directory" | "Memory" },
        peers: ReadonlyArray<string>
      ) =>
        Layer.build(
          Tidemark.layer({ schema: App, library, device, storage, listen: "127.0.0.1:0", peers, options })
        )
      const a = yield* start(deviceA, Storage.directory(join(dir, "a")), [])
      const b = yield* start(Tidemark.newDevice(), Storage.memory, [Context.get(a, Tidemark.Engine).address])
      const dbB = Context.get(b, Tidemark.Database)
      const arrives = (uuid: string) =>
        Effect.repeat(dbB.get(Note, uuid), {
          until: Option.isSome,
          schedule: Schedule.spaced("20 millis")
        }).pipe(Effect.timeout("5 seconds"), Effect.either)
      // B is connected and caught up: a write through A's own Layer arrives.
      const first = yield* Context.get(a, Tidemark.Database).write(Note, { title: "through A" })
      expect((yield* arrives(first.uuid))._tag).toBe("Right")
      yield* Effect.sleep("300 millis") // B's next pull is the long live wait
      const second = yield* start(deviceA, Storage.directory(join(dir, "a")), [])
      const note = yield* Context.get(second, Tidemark.Database).write(Note, {
        title: "through a second instance"
      })
      expect((yield* arrives(note.uuid))._tag).toBe("Right")
    })
  )
})
