// LibraryStore over a hub's kind tables on PostgreSQL, for a device that several processes serve at once.
// Keeps: a reader never passes a seq that commits later. Every write transaction takes its seq range from
// the counter row first (UPDATE … RETURNING), which locks the row until the transaction ends; the next
// writer, in any process, gets its range only after this one committed. So transactions commit in seq order,
// and a page read "after cursor" that sees seq n sees every committed seq below n: no late commit of a lower
// seq can slip behind a cursor. (A SEQUENCE or an identity column would not do: they hand out numbers that
// commit out of order.) The upsert is the SQLite one's: a row replaces the stored one only if its version is
// higher and its owner is the same, and a replacing row takes a fresh seq.
import type * as SqlError from "@effect/sql/SqlError"
import { Effect, Layer, Option } from "effect"
import type { CompiledKind } from "../domain/Catalog.js"
import { StoreError, UnknownKindError } from "../domain/Errors.js"
import * as Fingerprint from "../domain/Fingerprint.js"
import type { UuidRange } from "../domain/Fingerprint.js"
import * as Hlc from "../domain/Hlc.js"
import type { Uuid } from "../domain/Ids.js"
import type { ResourceType } from "../domain/Resource.js"
import { type Row, rowsWithin, type StoredRow } from "../domain/Row.js"
import { HlcClock } from "../services/HlcClock.js"
import { Kinds } from "../services/Kinds.js"
import * as LocalWrites from "../services/LocalWrites.js"
import { type ApplyOptions, LibraryStore } from "../services/LibraryStore.js"
import { LocalDevice } from "../services/LocalDevice.js"
import { kindTable, quote, seqCounterTable, storeIdentityTable, type TableNames } from "./LibraryDbSchema.js"
import { PG_TABLES, pgType } from "./LibraryDbSchemaPg.js"
import { storeError } from "./Postgres.js"
import { LibraryDb } from "./Sqlite.js"

/** Rows upserted per statement: a chunk is one JSONB parameter. */
const UPSERT_CHUNK_ROWS = 10_000
const FINGERPRINT_PAGE = 10_000

interface Table {
  readonly name: string
  readonly columns: ReadonlyArray<string>
  /** Positions (in `columns`) of boolean fields, stored as 0/1. */
  readonly booleans: ReadonlyArray<number>
  readonly select: string
  /**
   * The upsert of many rows in one statement, returning the uuids of the rows that changed the table. Its
   * one parameter is a JSONB array of rows, each an array of values in `columns` order.
   */
  readonly upsert: string
  /** The same upsert, also replacing a stored row of the same version (ApplyOptions.repair). */
  readonly repair: string
  readonly contents: Fingerprint.Contents
}

const makeTable = (kind: CompiledKind, names: TableNames): Table => {
  const columns = ["seq", "uuid", "version", "deleted", "owner", ...kind.columns.map((c) => c.name)]
  const types = ["bigint", "text", "text", "smallint", "text", ...kind.columns.map((c) => pgType[c.type])]
  const name = kindTable(names, kind.name)
  const quoted = columns.map(quote)
  const updates = quoted.filter((c) => c !== '"uuid"').map((c) => `${c} = excluded.${c}`)
  const upsert = (newer: ">" | ">=") =>
    `INSERT INTO ${name} AS t (${quoted.join(", ")}) ` +
    `SELECT ${types.map((type, i) => `(v ->> ${i})::${type}`).join(", ")} FROM jsonb_array_elements($1::jsonb) AS v ` +
    `ON CONFLICT (uuid) DO UPDATE SET ${updates.join(", ")} ` +
    `WHERE excluded.version ${newer} t.version AND excluded.owner IS NOT DISTINCT FROM t.owner RETURNING t.uuid`
  return {
    name,
    columns,
    booleans: kind.columns.flatMap((c, i) => (c.type === "boolean" ? [i + 5] : [])),
    select: `SELECT ${quoted.join(", ")} FROM ${name}`,
    upsert: upsert(">"),
    repair: upsert(">="),
    contents: Fingerprint.contents(kind.columns)
  }
}

const fieldValue = (table: Table, c: number, v: unknown): unknown =>
  v !== null && table.booleans.includes(c) ? v === 1 : v

const columnValue = (v: unknown): unknown => (typeof v === "boolean" ? (v ? 1 : 0) : (v ?? null))

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

const toStored = (table: Table, v: ReadonlyArray<unknown>): StoredRow => ({
  ...fromValues(table, v),
  seq: v[0] as number
})

/**
 * One row per uuid, the highest version kept: PostgreSQL refuses an upsert that touches a row twice, where
 * SQLite applies the rows in turn (to the same end under last-writer-wins).
 */
const newestPerUuid = (rows: ReadonlyArray<Row>): ReadonlyArray<Row> => {
  const seen = new Map<string, number>()
  const out: Array<Row> = []
  for (const row of rows) {
    const at = seen.get(row.uuid)
    if (at === undefined) {
      seen.set(row.uuid, out.length)
      out.push(row)
    } else if (row.version >= out[at]!.version) out[at] = row
  }
  return out
}

export const make = (names: TableNames = PG_TABLES) =>
  Effect.gen(function* () {
    const sql = yield* LibraryDb
    const clock = yield* HlcClock
    const { deviceId } = yield* LocalDevice
    const catalog = yield* Kinds
    const tableMap = new Map(catalog.kinds.map((k) => [k.name, makeTable(k, names)]))
    /** Callers check kinds against the catalog first: an unknown one here is a bug, a defect. */
    const tableOf = (resource: ResourceType): Table => {
      const table = tableMap.get(resource)
      if (table === undefined) throw new UnknownKindError({ kind: resource })
      return table
    }

    /** Take `n` consecutive seqs, locking the counter until the transaction ends. Its first statement. */
    const takeSeqs = (n: number) =>
      Effect.map(
        sql.unsafe<{ next: number }>(
          `UPDATE ${seqCounterTable(names)} SET next = next + $1 WHERE id = 1 RETURNING next`,
          [n]
        ),
        (rows) => rows[0]!.next - n
      )

    /** Upsert rows (seqs from `firstSeq` on) in the caller's transaction; the uuids of the rows that changed. */
    const upsert = (resource: ResourceType, rows: ReadonlyArray<Row>, firstSeq: number, repair = false) =>
      Effect.gen(function* () {
        const table = tableOf(resource)
        const changed: Array<string> = []
        for (let start = 0; start < rows.length; start += UPSERT_CHUNK_ROWS) {
          const end = Math.min(start + UPSERT_CHUNK_ROWS, rows.length)
          const values: Array<Array<unknown>> = []
          for (let i = start; i < end; i++) {
            const row = rows[i]!
            const v: Array<unknown> = [firstSeq + i, row.uuid, row.version, row.deleted ? 1 : 0, row.owner]
            for (let c = 5; c < table.columns.length; c++) v.push(columnValue(row.fields[table.columns[c]!]))
            values.push(v)
          }
          const statement = repair ? table.repair : table.upsert
          const result = yield* sql.unsafe<{ uuid: string }>(statement, [JSON.stringify(values)])
          for (const r of result) changed.push(r.uuid)
        }
        return changed
      })

    const inTransaction = <A, E>(operation: string, effect: Effect.Effect<A, E | SqlError.SqlError>) =>
      sql.withTransaction(effect).pipe(
        Effect.catchIf(
          (e): e is SqlError.SqlError => (e as { _tag?: unknown })._tag === "SqlError",
          (e) => Effect.fail(storeError(operation)(e))
        )
      ) as Effect.Effect<A, Exclude<E, SqlError.SqlError> | StoreError>

    const get = (resource: ResourceType, uuid: Uuid) =>
      sql.unsafe(`${tableOf(resource).select} WHERE uuid = $1`, [uuid]).values.pipe(
        Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), (r) => toStored(tableOf(resource), r))),
        Effect.mapError(storeError("get"))
      )

    /**
     * Write stamped rows in one transaction (a uuid written twice keeps its newest row: one statement cannot
     * upsert a row twice here); when one of them loses to a stored row, nothing is written.
     */
    const writeStamped = (resource: ResourceType, stamped: ReadonlyArray<Row>) => {
      const rows = newestPerUuid(stamped)
      return inTransaction(
        "write",
        Effect.gen(function* () {
          const firstSeq = yield* takeSeqs(rows.length)
          const changed = yield* upsert(resource, rows, firstSeq)
          if (changed.length === rows.length) {
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
    }

    const writeLocal = LocalWrites.make({ store: "postgres", catalog, deviceId, clock, writeStamped })

    const applyChanged = (resource: ResourceType, rows: ReadonlyArray<Row>, options?: ApplyOptions) =>
      rows.length === 0
        ? Effect.succeed([] as ReadonlyArray<string>)
        : Effect.suspend(() => {
            const unique = newestPerUuid(rows)
            return inTransaction(
              "apply",
              Effect.flatMap(takeSeqs(unique.length), (firstSeq) =>
                upsert(resource, unique, firstSeq, options?.repair === true)
              )
            )
          })

    const apply = (resource: ResourceType, rows: ReadonlyArray<Row>, options?: ApplyOptions) =>
      Effect.map(applyChanged(resource, rows, options), (changed) => changed.length)

    const readAfter = (resource: ResourceType, after: number, limit: number) =>
      sql
        .unsafe(`${tableOf(resource).select} WHERE seq > $1 ORDER BY seq LIMIT $2`, [after, limit])
        .values.pipe(
          Effect.map((rows) => rows.map((r) => toStored(tableOf(resource), r))),
          Effect.mapError(storeError("read"))
        )

    const listBy = (resource: ResourceType, field: string, value: string | number) =>
      sql
        .unsafe(`${tableOf(resource).select} WHERE ${quote(field)} = $1 AND deleted = 0 ORDER BY uuid`, [
          value
        ])
        .values.pipe(
          Effect.map((rows) => rows.map((r) => toStored(tableOf(resource), r))),
          Effect.mapError(storeError("list"))
        )

    const countAfter = (resource: ResourceType, after: number, cap?: number) =>
      sql
        .unsafe<{ n: number }>(
          cap === undefined
            ? `SELECT count(*) AS n FROM ${tableOf(resource).name} WHERE seq > $1`
            : `SELECT count(*) AS n FROM (SELECT 1 FROM ${tableOf(resource).name} WHERE seq > $1 LIMIT $2) AS capped`,
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
      sql
        .unsafe<{ uuid: string; version: string }>(
          `SELECT uuid, version FROM ${tableOf(resource).name} WHERE uuid = ANY($1::text[])`,
          [uuids]
        )
        .pipe(
          Effect.map((rows): ReadonlyMap<string, string> => new Map(rows.map((r) => [r.uuid, r.version]))),
          Effect.mapError(storeError("read versions"))
        )

    const readPage = (resource: ResourceType, after: number, limit: number, maxSize = Infinity) =>
      sql
        .unsafe(`${tableOf(resource).select} WHERE seq > $1 ORDER BY seq LIMIT $2`, [after, limit])
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
            `${table.select} WHERE uuid ${first ? ">=" : ">"} $1 AND uuid < $2 ORDER BY uuid LIMIT $3`,
            [after, range.hi, FINGERPRINT_PAGE]
          ).values
          for (const v of rows)
            acc.addValues(v[1] as string, v[2] as string, table.contents, v[3], v[4], v, 5)
          if (rows.length < FINGERPRINT_PAGE) return acc.result()
          after = rows[rows.length - 1]![1] as string
          first = false
        }
      }).pipe(Effect.mapError(storeError("fingerprint")))

    const readRange = (resource: ResourceType, range: UuidRange, afterUuid: string, limit: number) =>
      sql
        .unsafe(
          `${tableOf(resource).select} WHERE uuid >= $1 AND uuid > $2 AND uuid < $3 ORDER BY uuid LIMIT $4`,
          [range.lo, afterUuid, range.hi, limit]
        )
        .values.pipe(
          Effect.map((rows) => rows.map((v) => fromValues(tableOf(resource), v))),
          Effect.mapError(storeError("read range"))
        )

    // The identity table's own oid is part of the id: a logical restore (pg_restore after the schema was
    // dropped, or into a new database) creates the table anew, so peers see a store they do not know and
    // reconcile, without relying on the operator to give the restored store a new id.
    const identity = storeIdentityTable(names)
    const storeId = sql
      .unsafe<{ id: string }>(
        `SELECT store_id || '.' || '${identity}'::regclass::oid::text AS id FROM ${identity} WHERE id = 1`
      )
      .pipe(
        Effect.map((rows) => rows[0]!.id),
        Effect.mapError(storeError("read store id"))
      )

    const suspended =
      <Args extends ReadonlyArray<unknown>, A, E>(f: (...args: Args) => Effect.Effect<A, E>) =>
      (...args: Args) =>
        Effect.suspend(() => f(...args))
    return LibraryStore.of({
      storeId,
      writeLocal: suspended(writeLocal),
      apply: suspended(apply),
      applyChanged: suspended(applyChanged),
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

/** The LibraryStore over a hub's kind tables on PostgreSQL. */
export const layer = (
  names: TableNames = PG_TABLES
): Layer.Layer<LibraryStore, never, LibraryDb | HlcClock | LocalDevice | Kinds> =>
  Layer.effect(LibraryStore, make(names))
