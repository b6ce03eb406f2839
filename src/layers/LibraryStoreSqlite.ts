// LibraryStore over database.db. One upsert serves local writes and remote applies: a row replaces the stored
// one only if its version is higher and its owner is the same, and a replacing row takes a fresh seq. Each
// call is one transaction whose first statement takes the seq range (and with it the write lock).
import type * as SqlError from "@effect/sql/SqlError"
import { Effect, Layer, Option } from "effect"
import type { CompiledKind } from "../domain/Catalog.js"
import { InvalidRowError, UnknownKindError } from "../domain/Errors.js"
import * as Fingerprint from "../domain/Fingerprint.js"
import type { UuidRange } from "../domain/Fingerprint.js"
import * as Hlc from "../domain/Hlc.js"
import type { Uuid } from "../domain/Ids.js"
import { rowsWithin } from "../domain/Row.js"
import type { ResourceType } from "../domain/Resource.js"
import type { Row, StoredRow } from "../domain/Row.js"
import { HlcClock } from "../services/HlcClock.js"
import { type ApplyOptions, type BulkLoad, LibraryStore } from "../services/LibraryStore.js"
import { Kinds } from "../services/Kinds.js"
import * as LocalWrites from "../services/LocalWrites.js"
import { LocalDevice } from "../services/LocalDevice.js"
import {
  kindTable,
  openingsTable,
  quote,
  seqCounterTable,
  storeIdentityTable,
  type TableNames
} from "./LibraryDbSchema.js"
import * as Openings from "./OpeningsSqlite.js"
import { catchSqlError, LibraryDb, storeError as sqliteStoreError } from "./Sqlite.js"
import * as UuidIndex from "./UuidIndexSqlite.js"

/** Uuids looked up per `IN (…)` statement: well below SQLite's 32,766 bound parameters. */
const MAX_ROWS_PER_STATEMENT = 1_000
/** Rows upserted per statement: a chunk is one JSON parameter, so only its size bounds it. */
export const UPSERT_CHUNK_ROWS = 10_000
const FINGERPRINT_PAGE = 10_000

type DbRow = Record<string, string | number | null>

interface Table {
  readonly name: string
  readonly columns: ReadonlyArray<string>
  /** Positions (in `columns`) of boolean fields, stored as 0/1. */
  readonly booleans: ReadonlyArray<number>
  readonly select: string
  /**
   * The upsert of many rows in one statement. Its one parameter is a JSON array of rows, each an array of
   * values in `columns` order; `->>` gives JSON integers as SQL integers, strings as text, null as NULL.
   * `jsonb_each` hands each row to `->>` as binary JSON, which is read without parsing text again: about
   * 1.5× the rows per CPU second of `json_each`. (`WHERE true` is SQLite's required disambiguation between a
   * SELECT and an upsert's ON CONFLICT.)
   */
  readonly upsert: string
  /** The upsert that also replaces a stored row of the same version (ApplyOptions.repair). */
  readonly repair: string
  /** The same rows inserted as they are, for a bulk load while the table has no uuid index to conflict on. */
  readonly insert: string
  readonly contents: Fingerprint.Contents
}

const makeTable = (kind: CompiledKind, names: TableNames): Table => {
  const columns = ["seq", "uuid", "version", "deleted", "owner", ...kind.columns.map((c) => c.name)]
  const name = kindTable(names, kind.name)
  const quoted = columns.map(quote)
  const updates = quoted.filter((c) => c !== '"uuid"').map((c) => `${c} = excluded.${c}`)
  const insert =
    `INSERT INTO ${name} (${quoted.join(", ")}) ` +
    `SELECT ${columns.map((_, i) => `value ->> ${i}`).join(", ")} FROM jsonb_each(?) WHERE true`
  const upsert = (newer: ">" | ">=") =>
    `${insert} ON CONFLICT(uuid) DO UPDATE SET ${updates.join(", ")} ` +
    `WHERE excluded.version ${newer} ${name}.version AND excluded.owner IS ${name}.owner`
  return {
    name,
    columns,
    booleans: kind.columns.flatMap((c, i) => (c.type === "boolean" ? [i + 5] : [])),
    select: `SELECT ${quoted.join(", ")} FROM ${name}`,
    upsert: upsert(">"),
    repair: upsert(">="),
    insert,
    contents: Fingerprint.contents(kind.columns)
  }
}

/** A stored field value as the application sees it: booleans come back from their 0/1 column. */
const fieldValue = (table: Table, c: number, v: unknown): unknown =>
  v !== null && table.booleans.includes(c) ? v === 1 : v

/** A field value as stored: booleans as 0/1. */
const columnValue = (v: unknown): unknown => (typeof v === "boolean" ? (v ? 1 : 0) : (v ?? null))

/**
 * A row from its column values in `Table.columns` order (seq, uuid, version, deleted, owner, fields…): pages
 * for peers are read as value arrays, about twice as fast as objects keyed by column.
 */
const fromValues = (table: Table, v: ReadonlyArray<unknown>): Row => {
  const fields: Record<string, unknown> = {}
  for (let c = 5; c < table.columns.length; c++) fields[table.columns[c]!] = fieldValue(table, c, v[c])
  return {
    uuid: v[1] as Uuid,
    version: v[2] as Hlc.HlcString,
    deleted: v[3] === 1,
    owner: v[4] as Row["owner"],
    fields
  }
}

const toStored = (table: Table, db: DbRow): StoredRow => {
  const fields: Record<string, unknown> = {}
  for (let c = 5; c < table.columns.length; c++)
    fields[table.columns[c]!] = fieldValue(table, c, db[table.columns[c]!])
  return {
    seq: db.seq as number,
    uuid: db.uuid as Uuid,
    version: db.version as Hlc.HlcString,
    deleted: db.deleted === 1,
    owner: db.owner as StoredRow["owner"],
    fields
  }
}

/**
 * The rows of one uuid that an upsert would have kept, from rows in seq order: while a bulk load is under
 * way a uuid may be stored more than once (UuidIndexSqlite.build removes the others when the load ends).
 */
const keptRows = (rows: ReadonlyArray<StoredRow>): ReadonlyArray<StoredRow> => {
  const kept = new Map<string, StoredRow>()
  for (const row of rows) {
    const held = kept.get(row.uuid)
    if (held === undefined || (row.owner === held.owner && row.version > held.version))
      kept.set(row.uuid, row)
  }
  return kept.size === rows.length ? rows : [...kept.values()]
}

export const make = (names: TableNames = { prefix: "" }) =>
  Effect.gen(function* () {
    const sql = yield* LibraryDb
    const clock = yield* HlcClock
    const { deviceId } = yield* LocalDevice
    const catalog = yield* Kinds
    const tableMap = new Map(catalog.kinds.map((k) => [k.name, makeTable(k, names)]))
    /**
     * Callers check kinds from outside against the catalog first, so an unknown one here is a bug: it throws
     * inside `Effect.suspend` (every method below is wrapped in one) and becomes a defect.
     */
    const tableOf = (resource: ResourceType): Table => {
      const table = tableMap.get(resource)
      if (table === undefined) throw new UnknownKindError({ kind: resource })
      return table
    }

    const storeError = (operation: string) => sqliteStoreError("database.db", operation)

    /** The first seq handed out since the store was opened (a server compares peers' positions with it). */
    let firstSinceOpen: number | undefined
    /** Take `n` consecutive seq values. Must be the first statement of its transaction. */
    const takeSeqs = (n: number) =>
      Effect.map(
        sql.unsafe<{ next: number }>(
          `UPDATE ${seqCounterTable(names)} SET next = next + ? WHERE id = 1 RETURNING next`,
          [n]
        ),
        (rows) => {
          const first = rows[0]!.next - n
          // A rolled-back transaction hands the same seqs out again: the first one stays right.
          if (firstSinceOpen === undefined) firstSinceOpen = first
          return first
        }
      )

    /** Upsert rows (seq assigned from `firstSeq` on); returns how many changed the table. */
    const upsert = (resource: ResourceType, rows: ReadonlyArray<Row>, firstSeq: number, plain = false) =>
      upsertChunks(resource, rows, firstSeq, plain ? "insert" : "upsert", (statement, json) =>
        // The statement's own result: `changes` counts rows inserted or updated; an upsert whose WHERE
        // refused the update is not one. (A `SELECT changes()` after it was a statement more per apply.)
        Effect.map(sql.unsafe(statement, [json]).raw, (result) => (result as { changes: number }).changes)
      ).pipe(Effect.map((counts) => counts.reduce((a, b) => a + b, 0)))

    /** The same upsert; returns the uuids of the rows that changed the table (RETURNING skips refused rows). */
    const upsertReturning = (
      resource: ResourceType,
      rows: ReadonlyArray<Row>,
      firstSeq: number,
      statement: "upsert" | "repair" | "insert"
    ) =>
      upsertChunks(resource, rows, firstSeq, statement, (statement, json) =>
        Effect.map(sql.unsafe<{ uuid: string }>(`${statement} RETURNING uuid`, [json]), (r) =>
          r.map((x) => x.uuid)
        )
      ).pipe(Effect.map((chunks) => chunks.flat()))

    /**
     * Run `run` on each chunk of rows, passed as one JSONB array of value arrays, inside the caller's
     * transaction: a statement through the client costs about 40 µs, more than SQLite's work for one row
     * (docs/benchmarks.md).
     */
    const upsertChunks = <A>(
      resource: ResourceType,
      rows: ReadonlyArray<Row>,
      firstSeq: number,
      /** `insert` (no conflict handling) only into a table whose uuid index a bulk load dropped. */
      statement: "upsert" | "repair" | "insert",
      run: (statement: string, json: string) => Effect.Effect<A, SqlError.SqlError>
    ) =>
      Effect.gen(function* () {
        const table = tableOf(resource)
        const results: Array<A> = []
        for (let start = 0; start < rows.length; start += UPSERT_CHUNK_ROWS) {
          const end = Math.min(start + UPSERT_CHUNK_ROWS, rows.length)
          const values: Array<Array<unknown>> = new Array(end - start)
          for (let i = start; i < end; i++) {
            const row = rows[i]!
            const v: Array<unknown> = new Array(table.columns.length)
            v[0] = firstSeq + i
            v[1] = row.uuid
            v[2] = row.version
            v[3] = row.deleted ? 1 : 0
            v[4] = row.owner
            for (let c = 5; c < table.columns.length; c++) v[c] = columnValue(row.fields[table.columns[c]!])
            values[i - start] = v
          }
          results.push(yield* run(table[statement], JSON.stringify(values)))
        }
        return results
      })

    const inTransaction = <A, E>(operation: string, effect: Effect.Effect<A, E | SqlError.SqlError, never>) =>
      sql.withTransaction(effect).pipe(catchSqlError("database.db", operation))

    /**
     * End an unfinished bulk load of the kind (this process's or another's): every upsert needs the uuid
     * index. Runs inside a write transaction, which holds the write lock from its start (Sqlite.open).
     */
    const ensureIndexed = (resource: ResourceType) =>
      Effect.flatMap(UuidIndex.isIndexed(sql, names, resource), (indexed) =>
        indexed ? Effect.void : UuidIndex.build(sql, names, resource)
      )

    const get = (resource: ResourceType, uuid: Uuid) =>
      sql.unsafe<DbRow>(`${tableOf(resource).select} WHERE uuid = ? ORDER BY seq`, [uuid]).pipe(
        Effect.map((rows) =>
          Option.fromNullable(keptRows(rows.map((r) => toStored(tableOf(resource), r)))[0])
        ),
        Effect.mapError(storeError("get"))
      )

    /** Write stamped rows in one transaction; when one of them loses to a stored row, nothing is written. */
    const writeStamped = (resource: ResourceType, rows: ReadonlyArray<Row>) =>
      inTransaction(
        "write",
        Effect.gen(function* () {
          const firstSeq = yield* takeSeqs(rows.length)
          yield* ensureIndexed(resource)
          const changed = yield* upsert(resource, rows, firstSeq)
          if (changed === rows.length) {
            return { written: rows.map((r, i): StoredRow => ({ ...r, seq: firstSeq + i })), lost: [] }
          }
          const stored = yield* Effect.forEach(rows, (row) =>
            Effect.map(get(resource, row.uuid), (stored) => ({ row, stored }))
          )
          const lost = stored.filter(
            ({ row, stored }) => Option.isNone(stored) || stored.value.version !== row.version
          )
          // Roll back: the batch is written whole or not at all.
          return yield* Effect.fail({ _tag: "Lost" as const, lost })
        })
      ).pipe(Effect.catchTag("Lost", ({ lost }) => Effect.succeed({ written: [], lost })))

    const writeLocal = LocalWrites.make({ store: "database.db", catalog, deviceId, clock, writeStamped })

    /**
     * One apply transaction: take the seqs, then insert plainly when this is a bulk load's page and the
     * kind's uuid index is still dropped; otherwise (ending any unfinished load first) upsert.
     */
    const applyWith = <A>(
      resource: ResourceType,
      rows: ReadonlyArray<Row>,
      options: ApplyOptions | undefined,
      write: (firstSeq: number, plain: boolean) => Effect.Effect<A, SqlError.SqlError>
    ) =>
      inTransaction(
        "apply",
        Effect.gen(function* () {
          const firstSeq = yield* takeSeqs(rows.length)
          const indexed = yield* UuidIndex.isIndexed(sql, names, resource)
          if (!indexed && options?.bulk !== true) yield* UuidIndex.build(sql, names, resource)
          return yield* write(firstSeq, !indexed && options?.bulk === true)
        })
      )

    const applyChanged = (resource: ResourceType, rows: ReadonlyArray<Row>, options?: ApplyOptions) =>
      rows.length === 0
        ? Effect.succeed([])
        : applyWith(resource, rows, options, (firstSeq, plain) =>
            upsertReturning(
              resource,
              rows,
              firstSeq,
              plain ? "insert" : options?.repair === true ? "repair" : "upsert"
            )
          )

    const apply = (resource: ResourceType, rows: ReadonlyArray<Row>, options?: ApplyOptions) =>
      rows.length === 0
        ? Effect.succeed(0)
        : applyWith(resource, rows, options, (firstSeq, plain) =>
            options?.repair === true
              ? Effect.map(upsertReturning(resource, rows, firstSeq, "repair"), (uuids) => uuids.length)
              : upsert(resource, rows, firstSeq, plain)
          )

    /** Kinds whose bulk load a caller in this process holds (BulkLoad.begin). */
    const loading = new Set<ResourceType>()

    const bulk: BulkLoad = {
      begin: (resource) =>
        Effect.gen(function* () {
          if (loading.has(resource)) return false
          loading.add(resource)
          yield* Effect.addFinalizer(() => Effect.sync(() => loading.delete(resource)))
          const began = yield* inTransaction(
            "begin bulk load",
            Effect.gen(function* () {
              if (!(yield* UuidIndex.isIndexed(sql, names, resource))) return true
              const any = yield* sql.unsafe(`SELECT 1 FROM ${tableOf(resource).name} LIMIT 1`)
              if (any.length > 0) return false
              yield* UuidIndex.drop(sql, names, catalog.kind(resource))
              return true
            })
          )
          if (!began) loading.delete(resource)
          return began
        }),
      end: (resource) => inTransaction("end bulk load", ensureIndexed(resource))
    }

    const readAfter = (resource: ResourceType, after: number, limit: number) =>
      sql
        .unsafe<DbRow>(`${tableOf(resource).select} WHERE seq > ? ORDER BY seq LIMIT ?`, [after, limit])
        .pipe(
          Effect.map((rows) => rows.map((r) => toStored(tableOf(resource), r))),
          Effect.mapError(storeError("read"))
        )

    const listBy = (resource: ResourceType, field: string, value: string | number) =>
      sql
        .unsafe<DbRow>(`${tableOf(resource).select} WHERE ${quote(field)} = ? ORDER BY uuid, seq`, [value])
        .pipe(
          // Tombstones are read too: during a bulk load a uuid's kept row may be one.
          Effect.map((rows) =>
            keptRows(rows.map((r) => toStored(tableOf(resource), r))).filter((r) => !r.deleted)
          ),
          Effect.mapError(storeError("list"))
        )

    const countAfter = (resource: ResourceType, after: number, cap?: number) =>
      sql
        .unsafe<{ n: number }>(
          cap === undefined
            ? `SELECT count(*) AS n FROM ${tableOf(resource).name} WHERE seq > ?`
            : `SELECT count(*) AS n FROM (SELECT 1 FROM ${tableOf(resource).name} WHERE seq > ? LIMIT ?)`,
          cap === undefined ? [after] : [after, cap]
        )
        .pipe(
          Effect.map((rows) => rows[0]!.n),
          Effect.mapError(storeError("count"))
        )

    const lastSeq = (resource: ResourceType) =>
      sql.unsafe<{ s: number | null }>(`SELECT max(seq) AS s FROM ${tableOf(resource).name}`).pipe(
        Effect.map((rows) => rows[0]!.s ?? 0),
        Effect.mapError(storeError("lastSeq"))
      )

    const versionsOf = (resource: ResourceType, uuids: ReadonlyArray<Uuid>) =>
      Effect.gen(function* () {
        const versions = new Map<string, string>()
        for (let start = 0; start < uuids.length; start += MAX_ROWS_PER_STATEMENT) {
          const chunk = uuids.slice(start, start + MAX_ROWS_PER_STATEMENT)
          const rows = yield* sql.unsafe<{ uuid: string; version: string }>(
            `SELECT uuid, version FROM ${tableOf(resource).name} WHERE uuid IN (${chunk.map(() => "?").join(",")})`,
            chunk
          )
          for (const r of rows) versions.set(r.uuid, r.version)
        }
        return versions as ReadonlyMap<string, string>
      }).pipe(catchSqlError("database.db", "read versions"))

    const readPage = (resource: ResourceType, after: number, limit: number, maxSize = Infinity) =>
      sql
        .unsafe(`${tableOf(resource).select} WHERE seq > ? ORDER BY seq LIMIT ?`, [after, limit])
        .values.pipe(
          Effect.map((values) => {
            const rows = values.map((v) => fromValues(tableOf(resource), v))
            const kept = rowsWithin(rows, maxSize)
            return {
              rows: kept === rows.length ? rows : rows.slice(0, kept),
              last: kept === 0 ? after : (values[kept - 1]![0] as number)
            }
          }),
          Effect.mapError(storeError("read"))
        )

    const fingerprint = (resource: ResourceType, range: UuidRange) =>
      Effect.gen(function* () {
        const table = tableOf(resource)
        const acc = Fingerprint.accumulator()
        let after = range.lo
        let first = true
        for (;;) {
          const rows = yield* sql.unsafe(
            `${table.select} WHERE uuid ${first ? ">=" : ">"} ? AND uuid < ? ORDER BY uuid LIMIT ?`,
            [after, range.hi, FINGERPRINT_PAGE]
          ).values
          for (const v of rows)
            acc.addValues(v[1] as string, v[2] as string, table.contents, v[3], v[4], v, 5)
          if (rows.length < FINGERPRINT_PAGE) return acc.result()
          after = rows[rows.length - 1]![1] as string
          first = false
        }
      }).pipe(catchSqlError("database.db", "fingerprint"))

    /**
     * While a bulk load is under way a uuid may be stored twice, and a page may end between its rows (the next
     * asks after that uuid): each uuid's newest version comes first, so what a page ends before is only rows
     * the index build will delete (UuidIndexSqlite.build keeps the highest version of the first owner).
     */
    const readRange = (resource: ResourceType, range: UuidRange, afterUuid: string, limit: number) =>
      sql
        .unsafe(
          `${tableOf(resource).select} WHERE uuid >= ? AND uuid > ? AND uuid < ? ORDER BY uuid, version DESC, seq LIMIT ?`,
          [range.lo, afterUuid, range.hi, limit]
        )
        .values.pipe(
          Effect.map((rows) => rows.map((v) => fromValues(tableOf(resource), v))),
          Effect.mapError(storeError("read range"))
        )

    const storeId = sql
      .unsafe<{ id: string }>(`SELECT store_id AS id FROM ${storeIdentityTable(names)} WHERE id = 1`)
      .pipe(
        Effect.map((rows) => rows[0]!.id),
        Effect.mapError(storeError("read store id"))
      )

    const suspended =
      <Args extends ReadonlyArray<unknown>, A, E, R>(f: (...args: Args) => Effect.Effect<A, E, R>) =>
      (...args: Args) =>
        Effect.suspend(() => f(...args))
    return LibraryStore.of({
      storeId,
      firstSeqSinceOpen: () => firstSinceOpen,
      openings: Openings.make(
        sql,
        "database.db",
        openingsTable(names),
        `SELECT next - 1 FROM ${seqCounterTable(names)} WHERE id = 1`
      ),
      writeLocal: suspended(writeLocal),
      apply: suspended(apply),
      applyChanged: suspended(applyChanged),
      bulk: { begin: suspended(bulk.begin), end: suspended(bulk.end) },
      readAfter: suspended(readAfter),
      readPage: suspended(readPage),
      fingerprint: suspended(fingerprint),
      readRange: suspended(readRange),
      countAfter: suspended(countAfter),
      lastSeq: suspended(lastSeq),
      get: suspended(get),
      listBy: suspended(listBy),
      versionsOf: suspended(versionsOf)
    })
  })

/** The LibraryStore over database.db, its tables named with `names.prefix`. */
export const layer = (
  names: TableNames = { prefix: "" }
): Layer.Layer<LibraryStore, never, LibraryDb | HlcClock | LocalDevice | Kinds> =>
  Layer.effect(LibraryStore, make(names))

export type { InvalidRowError }
