// One process of a hub, for tests that kill it: the hub device of a small application on PostgreSQL, served
// over TCP, through the package's public API only. Argument: a JSON object { url, schema, library, device,
// listen }. Prints "serving <address>" once it serves peers; runs until killed.
import { Effect, Schema } from "effect"
import { Resource, Storage, Tidemark } from "tidemark"

const config = JSON.parse(process.argv[2])
const Note = Resource.owned("note", { title: Schema.String })
const Label = Resource.shared("label", { name: Schema.String })

const program = Effect.gen(function* () {
  const engine = yield* Tidemark.Engine
  yield* Effect.sync(() => console.log(`serving ${engine.address}`))
  return yield* Effect.never
})

Effect.runFork(
  program.pipe(
    Effect.provide(
      Tidemark.layer({
        schema: Tidemark.schema(Note, Label),
        library: config.library,
        device: config.device,
        storage: Storage.postgres({ url: config.url, schema: config.schema }),
        listen: config.listen
      })
    ),
    Effect.tapErrorCause(Effect.logError)
  )
)
