// The changes applied to this device's data, local writes and rows from peers alike, as Streams an
// application subscribes to per kind. Keeps: a change is published only after the transaction that applied
// it committed, and only rows that changed the stored state are published (a row that lost to a newer
// version, or a page received again, is not).
import { Context, Effect, Layer, PubSub, type Scope, Stream } from "effect"
import type { HlcString } from "../domain/Hlc.js"
import type { Uuid } from "../domain/Ids.js"
import type { Row } from "../domain/Row.js"

/** One applied change of a row. */
export interface Change {
  readonly kind: string
  readonly uuid: Uuid
  readonly version: HlcString
  readonly deleted: boolean
  readonly fields: Readonly<Record<string, unknown>>
  /** "local": written on this device; "remote": pulled from a peer. */
  readonly origin: "local" | "remote"
}

export class Changes extends Context.Tag("tidemark/Changes")<
  Changes,
  {
    /** Publish rows of `kind` that a committed transaction changed. */
    readonly publish: (
      kind: string,
      rows: ReadonlyArray<Row>,
      origin: Change["origin"]
    ) => Effect.Effect<void>
    /** Whether a subscriber is watching `kind` now: only then is the exact set of changed rows worth computing. */
    readonly watching: (kind: string) => boolean
    /**
     * Subscribe to the changes of `kind`: every change published after this effect returns is on the
     * stream, for as long as the scope lives.
     */
    readonly subscribe: (kind: string) => Effect.Effect<Stream.Stream<Change>, never, Scope.Scope>
  }
>() {}

export const make = Effect.sync(() => {
  // One hub per kind, so a consumer of one kind never holds another kind's changes. Unbounded: sync never
  // waits for an application's consumer; a consumer that stops reading holds memory.
  const hubs = new Map<string, PubSub.PubSub<ReadonlyArray<Change>>>()
  const watchers = new Map<string, number>()
  const count = (kind: string, by: number) =>
    Effect.sync(() => watchers.set(kind, (watchers.get(kind) ?? 0) + by))
  const hubOf = (kind: string) =>
    Effect.suspend(() => {
      const hub = hubs.get(kind)
      return hub !== undefined
        ? Effect.succeed(hub)
        : // Whichever fiber sets the kind's hub first wins; a hub made concurrently is dropped unused.
          Effect.map(PubSub.unbounded<ReadonlyArray<Change>>(), (created) => {
            const first = hubs.get(kind)
            if (first !== undefined) return first
            hubs.set(kind, created)
            return created
          })
    })
  return Changes.of({
    publish: (kind, rows, origin) =>
      rows.length === 0 || (watchers.get(kind) ?? 0) === 0
        ? Effect.void
        : Effect.flatMap(hubOf(kind), (hub) =>
            PubSub.publish(
              hub,
              rows.map((row) => ({
                kind,
                uuid: row.uuid,
                version: row.version,
                deleted: row.deleted,
                fields: row.fields,
                origin
              }))
            )
          ),
    watching: (kind) => (watchers.get(kind) ?? 0) > 0,
    subscribe: (kind) =>
      Effect.gen(function* () {
        yield* Effect.acquireRelease(count(kind, 1), () => count(kind, -1))
        const queue = yield* PubSub.subscribe(yield* hubOf(kind))
        return Stream.flattenIterables(Stream.fromQueue(queue))
      })
  })
})

export const layer: Layer.Layer<Changes> = Layer.effect(Changes, make)
