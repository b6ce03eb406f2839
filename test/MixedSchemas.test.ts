// Two versions of one application in one library: the newer declares a kind the older does not, and a nullable
// field the older does not have. The kinds both declare sync (the field reads as null where it is missing,
// and is dropped where it is unknown); the other kind stays on the devices that declare it; nothing fails.
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, Option, Schedule, Schema } from "effect"
import { Errors, Resource, Storage, Tidemark, Transport } from "tidemark"
import * as Testing from "tidemark/testing"

const Note = Resource.owned("note", { title: Schema.String })
const NoteV2 = Resource.owned("note", { title: Schema.String, color: Schema.NullOr(Schema.String) })
const Label = Resource.shared("label", { name: Schema.String })
const V1 = Tidemark.schema(Note)
const V2 = Tidemark.schema(NoteV2, Label)

/** Every log line, so a session that failed (and reconnected) shows. */
const logged: Array<string> = []
const capture = Logger.make(({ message }) => {
  logged.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
})

describe("devices on two versions of an application", () => {
  it.scopedLive("sync the kinds both declare and keep the others to themselves", () =>
    Effect.gen(function* () {
      const network = yield* Transport.memoryNetwork
      const library = Tidemark.newLibrary()
      const device = (schema: typeof V1 | typeof V2, name: string, peers: ReadonlyArray<string>) =>
        Effect.map(
          Layer.build(
            Tidemark.layer({
              schema,
              library,
              device: Tidemark.newDevice(),
              storage: Storage.memory,
              listen: `memory:${name}`,
              peers,
              transport: Transport.memory(network),
              options: Testing.fastOptions
            })
          ),
          Context.get(Tidemark.Database)
        )
      const newer = yield* device(V2, "newer", [])
      const older = yield* device(V1, "older", ["memory:newer"])
      const label = yield* newer.write(Label, { name: "only on v2" })
      const fromNewer = yield* newer.write(NoteV2, { title: "from v2", color: "red" })
      const fromOlder = yield* older.write(Note, { title: "from v1" })
      const arrives = (db: Tidemark.Database["Type"], uuid: string) =>
        Effect.repeat(db.get(Note, uuid), {
          until: Option.isSome,
          schedule: Schedule.spaced("10 millis")
        }).pipe(Effect.timeout("10 seconds"))
      yield* arrives(older, fromNewer.uuid)
      yield* arrives(newer, fromOlder.uuid)
      expect(Option.map(yield* older.get(Note, fromNewer.uuid), (n) => n.fields)).toEqual(
        Option.some({ title: "from v2" })
      )
      expect(Option.map(yield* newer.get(NoteV2, fromOlder.uuid), (n) => n.fields)).toEqual(
        Option.some({ title: "from v1", color: null })
      )
      // The older device does not know labels: asking for one is a typed error, and the newer keeps its own.
      const unknown = yield* Effect.either(older.get(Label, label.uuid))
      expect(unknown._tag === "Left" && unknown.left).toBeInstanceOf(Errors.UnknownKindError)
      expect(Option.isSome(yield* newer.get(Label, label.uuid))).toBe(true)
      // Later writes still cross: the sessions did not fail or start over.
      const later = yield* newer.write(NoteV2, { title: "later", color: null })
      yield* arrives(older, later.uuid)
      expect(logged.filter((line) => line.includes("stopped"))).toEqual([])
    }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, capture)))
  )
})
