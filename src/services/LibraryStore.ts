// The library's rows on this device (database.db). Keeps: applying rows is idempotent and commutative (the
// highest version of a uuid wins, whatever order and however often rows arrive), and every row that changes
// the table gets a fresh local `seq` in the same transaction, so cursors over `seq` never miss a change.
import type { Openings } from "./Openings.js"
import { Context, type Effect, type Option, type Scope } from "effect"
import type { InvalidRowError, NotOwnerError, RowNotFoundError, StoreError } from "../domain/Errors.js"
import type { Fingerprint, UuidRange } from "../domain/Fingerprint.js"
import type { Uuid } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"
import type { Row, StoredRow } from "../domain/Row.js"

/** A local write: the fields of one row; the store stamps version, owner and seq. */
export interface LocalWrite {
  readonly uuid: Uuid
  readonly fields: Readonly<Record<string, unknown>>
  readonly deleted?: boolean
}

/** How rows from elsewhere are applied. */
export interface ApplyOptions {
  /**
   * The rows are a page of a bulk load this caller began (`BulkLoad.begin`). While the load lasts they are
   * stored as they come, without looking for a stored row of the same uuid; `BulkLoad.end` sorts them out.
   */
  readonly bulk?: boolean
  /**
   * The rows also replace stored rows of the same version (and owner): `verify`'s repair of rows whose
   * contents differ from a peer's at the same version, after it chose the peer's copy (Divergence.ts).
   */
  readonly repair?: boolean
}

/**
 * Loading a kind's empty table quickly: its unique uuid index is dropped while pages are inserted, and built
 * once at the end. Any other write to the kind, in this process or another, ends the load first, so it is
 * only ever slower, never different.
 */
export interface BulkLoad {
  /**
   * Claim a bulk load of `resource` for the caller's scope: true when its table is empty (the load begins)
   * or a load of it was left unfinished (the load resumes), and no other caller in this process holds it.
   */
  readonly begin: (resource: ResourceType) => Effect.Effect<boolean, StoreError, Scope.Scope>
  /** End a load of `resource` if one is unfinished: keep the row of each uuid an upsert would, index uuids. */
  readonly end: (resource: ResourceType) => Effect.Effect<void, StoreError>
}

export class LibraryStore extends Context.Tag("tidemark/LibraryStore")<
  LibraryStore,
  {
    /**
     * Write rows of this device in one transaction: each gets the next version from the HLC clock and the
     * next local seq. Device-owned rows are owned by this device; writing another device's row fails.
     * Shared kinds written here bypass the shared log: applications write through `Library`.
     */
    readonly writeLocal: (
      resource: ResourceType,
      writes: ReadonlyArray<LocalWrite>
    ) => Effect.Effect<ReadonlyArray<StoredRow>, InvalidRowError | NotOwnerError | StoreError>
    /** Apply rows from elsewhere, last writer wins on `version`, in one transaction. Returns rows changed. */
    readonly apply: (
      resource: ResourceType,
      rows: ReadonlyArray<Row>,
      options?: ApplyOptions
    ) => Effect.Effect<number, StoreError>
    /** `apply`, returning the uuids of the rows that changed the table (in page order, repeats included). */
    readonly applyChanged: (
      resource: ResourceType,
      rows: ReadonlyArray<Row>,
      options?: ApplyOptions
    ) => Effect.Effect<ReadonlyArray<string>, StoreError>
    /** Bulk loading of empty tables, where the store supports it; without it, pages are always upserted. */
    readonly bulk?: BulkLoad
    /** Up to `limit` rows with `seq > after`, in seq order. */
    readonly readAfter: (
      resource: ResourceType,
      after: number,
      limit: number
    ) => Effect.Effect<ReadonlyArray<StoredRow>, StoreError>
    /**
     * The same page as rows to send to a peer (local seqs stay here) and the seq of its last row; it ends
     * early rather than pass `maxSize` (Resource.rowsWithin), but holds at least one row when there is one.
     */
    readonly readPage: (
      resource: ResourceType,
      after: number,
      limit: number,
      maxSize?: number
    ) => Effect.Effect<{ readonly rows: ReadonlyArray<Row>; readonly last: number }, StoreError>
    /** The fingerprint of the rows (uuid, version, contents) of one kind with uuid in [lo, hi). */
    readonly fingerprint: (resource: ResourceType, range: UuidRange) => Effect.Effect<Fingerprint, StoreError>
    /** Up to `limit` rows with uuid in [lo, hi) and above `afterUuid`, in uuid order. */
    readonly readRange: (
      resource: ResourceType,
      range: UuidRange,
      afterUuid: string,
      limit: number
    ) => Effect.Effect<ReadonlyArray<Row>, StoreError>
    /** How many rows have `seq > after` (for progress); counting stops at `cap` when given. */
    readonly countAfter: (
      resource: ResourceType,
      after: number,
      cap?: number
    ) => Effect.Effect<number, StoreError>
    /** The random id of this database file; it changes when the file is replaced. */
    readonly storeId: Effect.Effect<string, StoreError>
    /**
     * The first seq this store handed out since it was opened (undefined until it hands one out): every seq
     * from it on is new since. Absent where other processes write the store too (a hub's).
     */
    readonly firstSeqSinceOpen?: () => number | undefined
    /**
     * The openings of the tables' seq counter, kept in this file (services/Openings.ts). Absent where other
     * processes serve the store too (a hub's).
     */
    readonly openings?: Openings
    /** The highest seq of a kind, 0 when it has no rows. */
    readonly lastSeq: (resource: ResourceType) => Effect.Effect<number, StoreError>
    readonly get: (resource: ResourceType, uuid: Uuid) => Effect.Effect<Option.Option<StoredRow>, StoreError>
    /** The live (not deleted) rows whose field `field` equals `value`, in uuid order. */
    readonly listBy: (
      resource: ResourceType,
      field: string,
      value: string | number
    ) => Effect.Effect<ReadonlyArray<StoredRow>, StoreError>
    /** The stored version of each of these uuids that exists. */
    readonly versionsOf: (
      resource: ResourceType,
      uuids: ReadonlyArray<Uuid>
    ) => Effect.Effect<ReadonlyMap<string, string>, StoreError>
  }
>() {}

/** A tombstone for `row`: same fields, deleted. */
export const tombstoneOf = (row: Row): LocalWrite => ({ uuid: row.uuid, fields: row.fields, deleted: true })

export type { RowNotFoundError }
