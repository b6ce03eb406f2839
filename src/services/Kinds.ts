// The resource kinds of the application this engine runs, compiled (domain/Catalog). Every module that needs
// to know which kinds exist, how they are stored or checked, asks this service: the engine itself names no
// kind.
import { Context, Effect, Layer } from "effect"
import { type AppSchema, type Catalog, compile } from "../domain/Catalog.js"
import type { SchemaDefinitionError } from "../domain/Errors.js"

export class Kinds extends Context.Tag("tidemark/Kinds")<Kinds, Catalog>() {}

/** The compiled kinds of `app`; fails with SchemaDefinitionError when a declaration is wrong. */
export const layer = (app: AppSchema): Layer.Layer<Kinds, SchemaDefinitionError> =>
  Layer.effect(
    Kinds,
    Effect.suspend(() => compile(app))
  )
