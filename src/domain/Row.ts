// A row as it is stored and replicated: an envelope (uuid, version, deleted, owner) around the fields of its
// kind. The envelope is what sync reasons about; the fields are checked by the kind's Schema (Catalog).
import { ParseResult, Schema } from "effect"
import { HlcString, hlcStringCheck } from "./Hlc.js"
import { DeviceId, isUuid, Uuid, uuidCheck } from "./Ids.js"

/** A replicated row. `fields` are checked against the kind's schema by `decodeRow`. */
export const RowStruct = Schema.Struct({
  uuid: Uuid,
  version: HlcString,
  deleted: Schema.Boolean,
  owner: Schema.NullOr(DeviceId),
  fields: Schema.Record({ key: Schema.String, value: Schema.Unknown })
})
export type Row = typeof RowStruct.Type

/** The envelope check as a plain predicate: rows cross the wire by the hundred thousand. */
const isOwner = uuidCheck()
const isVersion = hlcStringCheck()
const isRow = (u: unknown): u is Row => {
  if (typeof u !== "object" || u === null) return false
  const r = u as Record<string, unknown>
  return (
    typeof r.uuid === "string" &&
    isUuid(r.uuid) &&
    typeof r.version === "string" &&
    isVersion(r.version) &&
    typeof r.deleted === "boolean" &&
    (r.owner === null || (typeof r.owner === "string" && isOwner(r.owner))) &&
    typeof r.fields === "object" &&
    r.fields !== null &&
    !Array.isArray(r.fields)
  )
}

const ROW_MESSAGE =
  "expected a row {uuid, version (HLC string), deleted, owner (device uuid or null), fields}"

/**
 * A row on the wire: the same envelope as RowStruct (a property test keeps them equal), checked by a
 * predicate when decoded; decodeRow explains a rejected row field by field. Encoding does not check again:
 * the rows a device sends come from its own store, and the receiver decodes every one of them.
 */
export const Row: Schema.Schema<Row> = Schema.declare(
  [],
  {
    decode: () => (input, _, ast) =>
      isRow(input)
        ? ParseResult.succeed(input)
        : ParseResult.fail(new ParseResult.Type(ast, input, ROW_MESSAGE)),
    encode: () => (input) => ParseResult.succeed(input as Row)
  },
  { identifier: "Row", message: () => ROW_MESSAGE }
)

/**
 * The rows of a page on the wire: the same check as `Schema.Array(Row)`, made in one pass over the array.
 * A page holds up to 10,000 rows, and a Schema parse per element (a result value for each, a new array)
 * cost the sender about a twentieth and the receiver about a fortieth of their CPU time in a backfill
 * (docs/benchmarks.md). A refusal names the first row that fails.
 */
export const Rows: Schema.Schema<ReadonlyArray<Row>> = Schema.declare(
  [],
  {
    decode: () => (input, _, ast) => {
      if (!Array.isArray(input))
        return ParseResult.fail(new ParseResult.Type(ast, input, "expected an array of rows"))
      for (let i = 0; i < input.length; i++) {
        if (!isRow(input[i]))
          return ParseResult.fail(new ParseResult.Type(ast, input, `row ${i}: ${ROW_MESSAGE}`))
      }
      return ParseResult.succeed(input as ReadonlyArray<Row>)
    },
    encode: () => (input) => ParseResult.succeed(input as ReadonlyArray<Row>)
  },
  { identifier: "Rows" }
)

/** A row as this device stores it: plus its local ingest sequence, which serves as a cursor. */
export interface StoredRow extends Row {
  readonly seq: number
}

/**
 * The most a row's fields may take (approximately, see rowSize): a page of one row then always fits in a
 * frame, whatever its text. Real rows take a few hundred.
 */
export const MAX_ROW_SIZE = 1024 * 1024

/** The approximate size of one row's fields: string lengths, 9 per number, a few per value. */
export const fieldsSize = (fields: Readonly<Record<string, unknown>>): number => {
  let size = 0
  for (const key in fields) {
    const v = fields[key]
    size += key.length + 2 + (typeof v === "string" ? v.length : 9)
  }
  return size
}

/**
 * The payload size of one row, estimated without encoding it: string lengths (characters, so UTF-8 may take
 * up to 3 bytes for each), 9 bytes per number, a few bytes of framing per value.
 */
export const rowSize = (row: Row): number =>
  row.uuid.length + row.version.length + (row.owner?.length ?? 0) + 8 + fieldsSize(row.fields)

/** How many of `rows`, from the first, fit in `maxSize` (see rowSize); at least one when there are any. */
export const rowsWithin = (rows: ReadonlyArray<Row>, maxSize: number): number => {
  let size = 0
  for (let i = 0; i < rows.length; i++) {
    size += rowSize(rows[i]!)
    if (i > 0 && size > maxSize) return i
  }
  return rows.length
}

/** The payload size of rows (see rowSize); the byte counters are updated for every page. */
export const approximateSize = (rows: ReadonlyArray<Row>): number => {
  let bytes = 0
  for (const row of rows) bytes += rowSize(row)
  return bytes
}
