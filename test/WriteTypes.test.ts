// What the types of the Database API refuse, as an application sees them through "tidemark": each line
// marked @ts-expect-error must not compile, and `tsc` in `npm run check` fails if one of them compiles
// ("Unused '@ts-expect-error' directive"). The same rows, forced past the compiler, are refused at run time
// by the kind's Schema, so the types and the engine agree.
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Schema } from "effect"
import { Errors, Resource, Tidemark } from "tidemark"
import * as Testing from "tidemark/testing"

const Note = Resource.owned("note", {
  title: Schema.String,
  done: Schema.Boolean,
  label: Schema.NullOr(Resource.ref("label"))
})
const Label = Resource.shared("label", { name: Schema.String })
const App = Tidemark.schema(Note, Label)

/** Never run: checked by tsc only. Each refused call stays on the line after its directive. */
export const refusedByTheCompiler = (db: Tidemark.Database["Type"]) => [
  // @ts-expect-error a misspelled field
  db.write(Note, { titel: "milk", done: false, label: null }),
  // @ts-expect-error a field of the wrong type
  db.write(Note, { title: "milk", done: "no", label: null }),
  // @ts-expect-error a missing field
  db.write(Note, { title: "milk", done: false }),
  // @ts-expect-error a field the kind does not declare
  db.write(Note, { title: "milk", done: false, label: null, color: "red" }),
  // @ts-expect-error a null in a field that is not nullable
  db.write(Note, { title: null, done: false, label: null }),
  // @ts-expect-error another kind's fields
  db.write(Label, { title: "milk", done: false, label: null }),
  // @ts-expect-error listing by a field that does not exist
  db.listBy(Note, "color", "red"),
  // @ts-expect-error listing by a value of the wrong type
  db.listBy(Note, "done", "yes"),
  // And what is right compiles:
  db.write(Note, { title: "milk", done: false, label: null }),
  db.listBy(Note, "label", "00000000-0000-4000-8000-000000000000"),
  db.listBy(Note, "done", true)
]

/** The refused rows, forced past the compiler: what a caller without types (or with a cast) could send. */
const forced: ReadonlyArray<readonly [string, unknown]> = [
  ["a misspelled field", { titel: "milk", done: false, label: null }],
  ["a field of the wrong type", { title: "milk", done: "no", label: null }],
  ["a missing field", { title: "milk", done: false }],
  ["a field the kind does not declare", { title: "milk", done: false, label: null, color: "red" }],
  ["a null in a field that is not nullable", { title: null, done: false, label: null }],
  ["a reference that is not a uuid", { title: "milk", done: false, label: "groceries" }]
]

describe("typed writes", () => {
  it.scopedLive(
    "rows the compiler refuses are refused at run time with InvalidRowError, and nothing is stored",
    () =>
      Effect.gen(function* () {
        const { devices } = yield* Testing.devices({ schema: App, count: 1 })
        const db = devices[0]!.database
        for (const [what, fields] of forced) {
          const error = yield* Effect.flip(db.write(Note, fields as never))
          expect(error, what).toBeInstanceOf(Errors.InvalidRowError)
          expect(error._tag, what).toBe("InvalidRowError")
        }
        expect(yield* db.dump).toEqual([])
        const written = yield* db.write(Note, { title: "milk", done: false, label: null })
        expect(written.fields).toEqual({ title: "milk", done: false, label: null })
      })
  )

  it.scopedLive("listing by a field the kind does not declare, forced past the compiler, is a defect", () =>
    Effect.gen(function* () {
      const { devices } = yield* Testing.devices({ schema: App, count: 1 })
      const exit = yield* Effect.exit(devices[0]!.database.listBy(Note, "color" as never, "red" as never))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
    })
  )
})
