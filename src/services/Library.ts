// The write side: local writes from applications and rows pulled from peers. Device-owned rows go straight
// to database.db; shared rows follow the write-ahead order of docs/architecture.md ("Two stores"): append to the shared log
// and commit, apply to database.db, mark applied. On start, log entries not marked applied are applied again
// (idempotent), so a shared change is either in both files or recoverable from the log, never in database.db
// alone. Every commit that changed rows wakes the peers waiting for them (ChangeFeed).
import { Context, Effect, Either, Layer, Option } from "effect"
import type { InvalidRowError, NotOwnerError, StoreError } from "../domain/Errors.js"
import { RowNotFoundError } from "../domain/Errors.js"
import * as Hlc from "../domain/Hlc.js"
import type { Uuid } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"
import { type Row } from "../domain/Row.js"
import { ChangeFeed } from "./ChangeFeed.js"
import { Changes } from "./Changes.js"
import { HlcClock } from "./HlcClock.js"
import { Kinds } from "./Kinds.js"
import { type ApplyOptions, LibraryStore, type LocalWrite } from "./LibraryStore.js"
import { SharedLog } from "./SharedLog.js"

type WriteError = InvalidRowError | NotOwnerError | StoreError

export class Library extends Context.Tag("tidemark/Library")<
  Library,
  {
    /** Create or update rows of one kind, as this device. */
    readonly write: (
      resource: ResourceType,
      writes: ReadonlyArray<LocalWrite>
    ) => Effect.Effect<ReadonlyArray<Row>, WriteError>
    /** Delete a row (a tombstone with its own version, so no older write can bring it back). */
    readonly remove: (resource: ResourceType, uuid: Uuid) => Effect.Effect<Row, WriteError | RowNotFoundError>
    /**
     * Apply rows that came from a peer (already decoded and clock-checked), last writer wins. Shared rows
     * that win are logged first, so this device serves them onward. Returns rows changed. `options.bulk`
     * (a page of a bulk load the caller began) applies to device-owned kinds only.
     */
    readonly applyRemote: (
      resource: ResourceType,
      rows: ReadonlyArray<Row>,
      options?: ApplyOptions
    ) => Effect.Effect<number, StoreError>
    /**
     * Replace this device's rows by a peer's copies of the same version whose contents differ, chosen by
     * `verify --repair` (Divergence.ts). No log entry for shared rows: the version is in the log already (or
     * pruned), and replaying it after a crash cannot undo the repair (the log applies only newer versions).
     * Returns rows changed.
     */
    readonly repair: (resource: ResourceType, rows: ReadonlyArray<Row>) => Effect.Effect<number, StoreError>
    /** Apply shared-log entries not yet in database.db; run on start. Returns how many were applied. */
    readonly recover: Effect.Effect<number, StoreError>
  }
>() {}

const RECOVERY_PAGE = 1_000

/** The newest version of each uuid in `rows` that is newer than what is stored. */
const winners = (rows: ReadonlyArray<Row>, stored: ReadonlyMap<string, string>): ReadonlyArray<Row> => {
  const best = new Map<string, Row>()
  for (const row of rows) {
    const held = best.get(row.uuid)?.version ?? stored.get(row.uuid)
    if (held === undefined || row.version > held) best.set(row.uuid, row)
  }
  return [...best.values()]
}

export const make = Effect.gen(function* () {
  const store = yield* LibraryStore
  const log = yield* SharedLog
  const clock = yield* HlcClock
  const feed = yield* ChangeFeed
  const catalog = yield* Kinds
  const changes = yield* Changes

  const notifyIf = (changed: number, resources?: ReadonlyArray<ResourceType>) =>
    changed > 0 ? feed.publish(resources) : Effect.void

  /**
   * Apply rows from a peer; returns how many changed the table. When an application watches the kind, the
   * store says exactly which rows changed it (in the same transaction), and the newest of each is published.
   */
  const applyAndPublish = (resource: ResourceType, rows: ReadonlyArray<Row>, options?: ApplyOptions) =>
    changes.watching(resource)
      ? Effect.uninterruptible(
          Effect.gen(function* () {
            const changed = new Set(yield* store.applyChanged(resource, rows, options))
            yield* changes.publish(
              resource,
              winners(rows, new Map()).filter((r) => changed.has(r.uuid)),
              "remote"
            )
            return changed.size
          })
        )
      : store.apply(resource, rows, options)

  /** Log, apply, mark applied: the write-ahead order for shared rows. */
  const logAndApply = (
    resource: ResourceType,
    rows: ReadonlyArray<Row>,
    apply: (
      resource: ResourceType,
      rows: ReadonlyArray<Row>
    ) => Effect.Effect<number, StoreError> = store.apply
  ) =>
    Effect.gen(function* () {
      if (rows.length === 0) return 0
      const seqs = yield* log.append(rows.map((row) => ({ resource, row })))
      const changed = yield* apply(resource, rows)
      yield* log.markApplied(seqs)
      return changed
    })

  const writeShared = (resource: ResourceType, writes: ReadonlyArray<LocalWrite>) =>
    Effect.gen(function* () {
      const fields: Array<Record<string, unknown>> = []
      for (const w of writes) {
        const decoded = catalog.kind(resource).decodeFields(w.uuid, w.fields)
        if (Either.isLeft(decoded)) return yield* decoded.left
        fields.push(decoded.right)
      }
      const versions = yield* clock.nowBatch(writes.length)
      const rows: ReadonlyArray<Row> = writes.map((w, i) => ({
        uuid: w.uuid,
        version: Hlc.toHlcString(versions[i]!),
        deleted: w.deleted ?? false,
        owner: null,
        fields: fields[i]!
      }))
      yield* logAndApply(resource, rows)
      return rows
    })

  const write = (resource: ResourceType, writes: ReadonlyArray<LocalWrite>) =>
    writes.length === 0
      ? Effect.succeed([])
      : // Uninterruptible from commit to publish: a committed write is always announced.
        Effect.uninterruptible(
          Effect.tap(
            catalog.isShared(resource)
              ? writeShared(resource, writes)
              : (store.writeLocal(resource, writes) as Effect.Effect<ReadonlyArray<Row>, WriteError>),
            (rows) => Effect.zipRight(feed.publish([resource]), changes.publish(resource, rows, "local"))
          )
        )

  const remove = (resource: ResourceType, uuid: Uuid) =>
    Effect.gen(function* () {
      const current = yield* store.get(resource, uuid)
      if (Option.isNone(current)) return yield* new RowNotFoundError({ resource, uuid })
      const [row] = yield* write(resource, [{ uuid, fields: current.value.fields, deleted: true }])
      return row!
    })

  const applyRemote = (resource: ResourceType, rows: ReadonlyArray<Row>, options?: ApplyOptions) =>
    Effect.gen(function* () {
      if (rows.length === 0) return 0
      if (!catalog.isShared(resource)) return yield* applyAndPublish(resource, rows, options)
      const stored = yield* store.versionsOf(
        resource,
        rows.map((r) => r.uuid)
      )
      return yield* logAndApply(resource, winners(rows, stored), applyAndPublish)
    }).pipe(Effect.tap((changed) => notifyIf(changed, [resource])))

  const recover = Effect.gen(function* () {
    let total = 0
    for (;;) {
      const entries = yield* log.unapplied(RECOVERY_PAGE)
      if (entries.length === 0) return total
      for (const e of entries) yield* store.apply(e.resource, [e.row])
      yield* log.markApplied(entries.map((e) => e.seq))
      total += entries.length
    }
  }).pipe(Effect.tap((changed) => notifyIf(changed)))

  const repair = (resource: ResourceType, rows: ReadonlyArray<Row>) =>
    rows.length === 0
      ? Effect.succeed(0)
      : applyAndPublish(resource, rows, { repair: true }).pipe(
          Effect.tap((changed) => notifyIf(changed, [resource]))
        )

  return Library.of({ write, remove, applyRemote, repair, recover })
})

/** The Library, after re-applying whatever the shared log holds that database.db may have missed. */
export const layer: Layer.Layer<
  Library,
  StoreError,
  LibraryStore | SharedLog | HlcClock | ChangeFeed | Kinds | Changes
> = Layer.effect(
  Library,
  Effect.tap(make, (library) =>
    Effect.flatMap(library.recover, (n) =>
      n > 0
        ? Effect.logInfo(`Recovered ${n} shared change(s) that were logged but not yet applied`)
        : Effect.void
    )
  )
)
