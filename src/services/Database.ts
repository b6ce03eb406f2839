// The typed API an application uses on its synced data: write, remove, get, list by a field, and a Stream of
// the changes of a kind. Every call names one of the application's declared kinds; the fields it takes and
// returns are typed by that kind's Schema. Keeps: a write is checked by the kind's Schema before anything is
// stored, and a kind the engine was not built with is refused with UnknownKindError, never written.
import { Context, Effect, Layer, Option, type Scope, type Stream } from "effect"
import {
  InvalidRowError,
  type NotOwnerError,
  RowNotFoundError,
  type StoreError,
  UnknownKindError
} from "../domain/Errors.js"
import type { HlcString } from "../domain/Hlc.js"
import { type DeviceId, isUuid, newUuid, type Uuid } from "../domain/Ids.js"
import type { AnyKind, FieldsOf } from "../domain/Resource.js"
import type { Row, StoredRow } from "../domain/Row.js"
import { type Change, Changes } from "./Changes.js"
import { dumpLines } from "./Dump.js"
import { Kinds } from "./Kinds.js"
import { Library } from "./Library.js"
import { LibraryStore, type LocalWrite } from "./LibraryStore.js"

/** A stored row of kind `K`. */
export interface Entity<K extends AnyKind> {
  readonly uuid: Uuid
  /** The HLC of the write that produced it (the highest version wins). */
  readonly version: HlcString
  /** The owning device for a device-owned kind; null for a shared kind. */
  readonly owner: DeviceId | null
  readonly fields: FieldsOf<K>
}

/** An applied change of a row of kind `K`: a write or a delete, made here or pulled from a peer. */
export interface KindChange<K extends AnyKind> extends Omit<Change, "fields" | "kind"> {
  readonly kind: K["name"]
  readonly fields: FieldsOf<K>
}

/** What a write can fail with: its fields break the Schema, it is another device's row, or storage failed. */
export type WriteError = InvalidRowError | NotOwnerError | StoreError | UnknownKindError

/**
 * One row of `writeMany`: set a row's fields (a new row when `uuid` is absent), or delete the row `uuid`
 * (`deleted: true`).
 */
export type BatchWrite<K extends AnyKind> =
  | { readonly uuid?: string; readonly fields: FieldsOf<K>; readonly deleted?: undefined }
  | { readonly uuid: string; readonly deleted: true }

/** The application's synced data on this device: typed writes, reads and change streams per kind. */
export class Database extends Context.Tag("tidemark/Database")<
  Database,
  {
    /**
     * Create a row (a new uuid) or, given `uuid`, replace that row's fields, as this device. A device-owned
     * row may be written only by its owner.
     */
    readonly write: <K extends AnyKind>(
      kind: K,
      fields: FieldsOf<K>,
      uuid?: string
    ) => Effect.Effect<Entity<K>, WriteError>
    /**
     * Write and delete rows of one kind in one transaction, as this device: all of them are stored, or none
     * (a row that breaks the Schema fails the whole batch). Returns the uuids in the order given. Deleting a
     * row that is already deleted writes nothing for it.
     */
    readonly writeMany: <K extends AnyKind>(
      kind: K,
      writes: ReadonlyArray<BatchWrite<K>>
    ) => Effect.Effect<ReadonlyArray<string>, WriteError | RowNotFoundError>
    /**
     * Delete a row: a tombstone with its own version, so no older write can bring it back. Deleting a row
     * that is already deleted writes nothing; a row this device never held fails with RowNotFoundError.
     */
    readonly remove: <K extends AnyKind>(
      kind: K,
      uuid: string
    ) => Effect.Effect<void, WriteError | RowNotFoundError>
    /** The row, unless it does not exist or was deleted. */
    readonly get: <K extends AnyKind>(
      kind: K,
      uuid: string
    ) => Effect.Effect<Option.Option<Entity<K>>, StoreError | UnknownKindError>
    /** The rows (not deleted) whose `field` equals `value`: the rows that point to a uuid, for a reference. */
    readonly listBy: <K extends AnyKind, F extends keyof FieldsOf<K> & string>(
      kind: K,
      field: F,
      value: FieldsOf<K>[F] & (string | number | boolean)
    ) => Effect.Effect<ReadonlyArray<Entity<K>>, StoreError | UnknownKindError>
    /** Every row (not deleted) of `kind`, in uuid order. */
    readonly list: <K extends AnyKind>(
      kind: K
    ) => Effect.Effect<ReadonlyArray<Entity<K>>, StoreError | UnknownKindError>
    /** How many rows of `kind` this device holds, deleted ones included (a tombstone is a row too). */
    readonly count: (kind: AnyKind) => Effect.Effect<number, StoreError | UnknownKindError>
    /**
     * Every row of every kind, tombstones included, one JSON line per row in a canonical order: two devices
     * that converged give identical dumps.
     */
    readonly dump: Effect.Effect<ReadonlyArray<string>, StoreError>
    /**
     * Subscribe to the changes of `kind`, local writes and rows from peers: every change applied after this
     * effect returns is on the stream, for as long as the scope lives.
     */
    readonly changes: <K extends AnyKind>(
      kind: K
    ) => Effect.Effect<Stream.Stream<KindChange<K>>, UnknownKindError, Scope.Scope>
  }
>() {}

const entity = <K extends AnyKind>(row: Row): Entity<K> => ({
  uuid: row.uuid,
  version: row.version,
  owner: row.owner,
  fields: row.fields as FieldsOf<K>
})

export const make = Effect.gen(function* () {
  const library = yield* Library
  const store = yield* LibraryStore
  const catalog = yield* Kinds
  const changes = yield* Changes

  const declared = (kind: AnyKind) =>
    catalog.has(kind.name) && catalog.kind(kind.name).family === kind.family
      ? Effect.void
      : Effect.fail(new UnknownKindError({ kind: kind.name }))

  const uuidOf = (kind: AnyKind, uuid: string | undefined) =>
    uuid === undefined
      ? Effect.sync(newUuid)
      : isUuid(uuid)
        ? Effect.succeed(uuid as Uuid)
        : Effect.fail(
            new InvalidRowError({ resource: kind.name, uuid, reason: "expected a lower-case UUID" })
          )

  const dump = dumpLines.pipe(
    Effect.provideService(LibraryStore, store),
    Effect.provideService(Kinds, catalog)
  )

  const LIST_PAGE = 10_000

  /** A batch as the Library takes it: deletions become tombstones carrying the stored fields. */
  const localWrites = (kind: AnyKind, writes: ReadonlyArray<BatchWrite<AnyKind>>) =>
    Effect.gen(function* () {
      const local: Array<LocalWrite> = []
      const uuids: Array<string> = []
      for (const w of writes) {
        const id = yield* uuidOf(kind, w.uuid)
        uuids.push(id)
        if (w.deleted !== true) {
          local.push({ uuid: id, fields: w.fields as Record<string, unknown> })
          continue
        }
        const held = yield* store.get(kind.name, id)
        if (Option.isNone(held)) return yield* new RowNotFoundError({ resource: kind.name, uuid: id })
        if (!held.value.deleted) local.push({ uuid: id, fields: held.value.fields, deleted: true })
      }
      return { local, uuids }
    })

  return Database.of({
    dump,
    writeMany: (kind, writes) =>
      Effect.gen(function* () {
        yield* declared(kind)
        const { local, uuids } = yield* localWrites(kind, writes as ReadonlyArray<BatchWrite<AnyKind>>)
        yield* library.write(kind.name, local)
        return uuids
      }),
    list: (kind) =>
      Effect.gen(function* () {
        yield* declared(kind)
        const rows: Array<StoredRow> = []
        let after = 0
        for (;;) {
          const page = yield* store.readAfter(kind.name, after, LIST_PAGE)
          for (const row of page) if (!row.deleted) rows.push(row)
          if (page.length < LIST_PAGE) break
          after = page.at(-1)!.seq
        }
        rows.sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0))
        return rows.map((r) => entity(r))
      }),
    count: (kind) => Effect.zipRight(declared(kind), store.countAfter(kind.name, 0)),
    write: (kind, fields, uuid) =>
      Effect.gen(function* () {
        yield* declared(kind)
        const id = yield* uuidOf(kind, uuid)
        const [row] = yield* library.write(kind.name, [
          { uuid: id, fields: fields as Record<string, unknown> }
        ])
        return entity(row!)
      }),
    remove: (kind, uuid) =>
      Effect.gen(function* () {
        yield* declared(kind)
        const { local } = yield* localWrites(kind, [{ uuid, deleted: true }])
        yield* library.write(kind.name, local)
      }),
    get: (kind, uuid) =>
      Effect.gen(function* () {
        yield* declared(kind)
        if (!isUuid(uuid)) return Option.none()
        const row = yield* store.get(kind.name, uuid as Uuid)
        return Option.filterMap(row, (r) => (r.deleted ? Option.none() : Option.some(entity(r))))
      }),
    listBy: (kind, field, value) =>
      Effect.gen(function* () {
        yield* declared(kind)
        if (!catalog.kind(kind.name).columns.some((c) => c.name === field)) {
          return yield* Effect.dieMessage(`${kind.name} has no field ${field}`)
        }
        const rows = yield* store.listBy(kind.name, field, typeof value === "boolean" ? Number(value) : value)
        return rows.map((r) => entity(r))
      }),
    changes: <K extends AnyKind>(kind: K) =>
      Effect.zipRight(
        declared(kind),
        changes.subscribe(kind.name) as Effect.Effect<Stream.Stream<KindChange<K>>, never, Scope.Scope>
      )
  })
})

export const layer: Layer.Layer<Database, never, Library | LibraryStore | Kinds | Changes> = Layer.effect(
  Database,
  make
)
