// docs/embedding.md's migrations, through the public API on a data directory: a kind or a nullable field
// added to an existing library is migrated (existing rows read the new field as null); a new field that is
// not nullable, or a field whose storage type changed, fails the Layer with SchemaMigrationError.
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Either, Layer, Option, Schema } from "effect"
import { Errors, Resource, Storage, Tidemark, Transport } from "tidemark"
import { tempDir } from "./support/tempDir.js"

describe("schema migrations of a data directory", () => {
  it.scopedLive(
    "a kind or a nullable field added later migrates; a new required field or a new type fails",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir("tidemark-migrate-")
        const library = Tidemark.newLibrary()
        const device = Tidemark.newDevice()
        const network = yield* Transport.memoryNetwork
        /** Start the device on `schema` from the same directory, run `use` on its Database, stop it. */
        const open = <A, E>(
          schema: Tidemark.AppSchema,
          use: (db: Tidemark.Database["Type"]) => Effect.Effect<A, E>
        ) =>
          Layer.build(
            Tidemark.layer({
              schema,
              library,
              device,
              storage: Storage.directory(dir),
              listen: "memory:migrate",
              transport: Transport.memory(network)
            })
          ).pipe(
            Effect.flatMap((ctx) => use(Context.get(ctx, Tidemark.Database))),
            Effect.scoped
          )
        const V1 = Resource.owned("note", { title: Schema.String })
        const written = yield* open(Tidemark.schema(V1), (db) => db.write(V1, { title: "milk" }))
        const V2 = Resource.owned("note", { title: Schema.String, done: Schema.NullOr(Schema.Boolean) })
        const Label = Resource.shared("label", { name: Schema.String })
        const read = yield* open(Tidemark.schema(V2, Label), (db) =>
          Effect.zipRight(db.write(Label, { name: "groceries" }), db.get(V2, written.uuid))
        )
        expect(Option.map(read, (n) => n.fields)).toEqual(Option.some({ title: "milk", done: null }))
        const required = yield* Effect.either(
          open(
            Tidemark.schema(Resource.owned("note", { title: Schema.String, due: Schema.String })),
            () => Effect.void
          )
        )
        expect(Either.isLeft(required) && required.left).toEqual(
          expect.objectContaining({ _tag: "SchemaMigrationError", kind: "note", field: "due" })
        )
        expect(Either.isLeft(required) && required.left).toBeInstanceOf(Errors.SchemaMigrationError)
        const retyped = yield* Effect.either(
          open(Tidemark.schema(Resource.owned("note", { title: Schema.Int })), () => Effect.void)
        )
        expect(Either.isLeft(retyped) && retyped.left).toEqual(
          expect.objectContaining({ _tag: "SchemaMigrationError", kind: "note", field: "title" })
        )
      })
  )
})
