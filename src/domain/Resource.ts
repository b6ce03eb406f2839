// The resource kinds a library holds, their field schemas, who may write them, and the order in which they
// depend on each other. A row is an envelope (uuid, version, deleted, owner) around the fields of its kind;
// the envelope is what sync reasons about, the fields are what the user sees.
import { Either, ParseResult, Schema } from "effect"
import * as F from "./Field.js"
import { HlcString, hlcStringCheck } from "./Hlc.js"
import { DeviceId, isUuid, Uuid, uuidCheck } from "./Ids.js"
import { InvalidRowError } from "./Errors.js"

/** Fields of each kind. Keys are the SQLite column names (snake_case on purpose). */
export const resourceFields = {
  device: { name: F.name, address: F.nullableText },
  volume: { name: F.name, mount_point: F.text, capacity: F.nullableCount },
  location: { volume: F.nullableUuid, path: F.text, name: F.name },
  entry: {
    location: F.uuid,
    parent: F.nullableUuid,
    name: F.name,
    kind: F.literal("file", "dir"),
    size: F.count,
    modified_at: F.count,
    content_hash: F.nullableText
  },
  tag: { name: F.name, color: F.nullableText },
  collection: { name: F.name },
  tag_assignment: { tag: F.uuid, entry: F.uuid },
  collection_entry: { collection: F.uuid, entry: F.uuid }
} as const

export const fieldSchemas = {
  device: F.structOf(resourceFields.device),
  volume: F.structOf(resourceFields.volume),
  location: F.structOf(resourceFields.location),
  entry: F.structOf(resourceFields.entry),
  tag: F.structOf(resourceFields.tag),
  collection: F.structOf(resourceFields.collection),
  tag_assignment: F.structOf(resourceFields.tag_assignment),
  collection_entry: F.structOf(resourceFields.collection_entry)
}

export type ResourceType = keyof typeof fieldSchemas
export type FieldsOf<K extends ResourceType> = (typeof fieldSchemas)[K]["Type"]

/**
 * Dependency order: a kind comes after the kinds its rows point to (volume → location → entry, tag and entry
 * → tag_assignment …). Backfill pulls in this order; rows that still arrive early are kept, never dropped.
 */
export const resourceTypes = [
  "device",
  "volume",
  "location",
  "entry",
  "tag",
  "collection",
  "tag_assignment",
  "collection_entry"
] as const satisfies ReadonlyArray<ResourceType>

export const ResourceType = Schema.Literal(...resourceTypes)

/** Device-owned kinds are written only by their owner; shared kinds by any member device. */
export const deviceOwned: ReadonlySet<ResourceType> = new Set(["device", "volume", "location", "entry"])
export const sharedTypes = resourceTypes.filter((r) => !deviceOwned.has(r))
export const ownedTypes = resourceTypes.filter((r) => deviceOwned.has(r))
export const isShared = (r: ResourceType): boolean => !deviceOwned.has(r)

export const columnsOf = (r: ResourceType): ReadonlyArray<string> => Object.keys(resourceFields[r])
export const isIntegerColumn = (r: ResourceType, column: string): boolean =>
  (resourceFields[r] as F.Fields)[column]?.integer ?? false

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

/** A row as this device stores it: plus its local ingest sequence, which serves as a cursor. */
export interface StoredRow extends Row {
  readonly seq: number
}

const fieldChecks = Object.fromEntries(
  resourceTypes.map((r) => [r, F.checkOf(resourceFields[r] as F.Fields)])
) as Record<ResourceType, (u: unknown) => boolean>

const fieldDecoders = Object.fromEntries(
  resourceTypes.map((r) => [
    r,
    Schema.decodeUnknownEither(fieldSchemas[r] as Schema.Schema<unknown>, { onExcessProperty: "error" })
  ])
) as Record<ResourceType, (u: unknown) => Either.Either<unknown, ParseResult.ParseError>>

/**
 * The most a row's fields may take (approximately, see rowSize): a page of one row then always fits in a
 * frame, whatever its text. Real rows take a few hundred.
 */
export const MAX_ROW_SIZE = 1024 * 1024

/**
 * Check the fields of one row against its kind's schema and the row size limit (fast path first; the Schema
 * says what is wrong).
 */
export const decodeFields = (
  resource: ResourceType,
  uuid: string,
  fields: unknown
): Either.Either<Record<string, unknown>, InvalidRowError> =>
  fieldChecks[resource](fields)
    ? fieldsSize(fields as Record<string, unknown>) > MAX_ROW_SIZE
      ? Either.left(
          new InvalidRowError({
            resource,
            uuid,
            reason: `its fields take about ${fieldsSize(fields as Record<string, unknown>)} characters, more than the limit of ${MAX_ROW_SIZE}`
          })
        )
      : Either.right(fields as Record<string, unknown>)
    : Either.mapBoth(fieldDecoders[resource](fields), {
        onLeft: (e) =>
          new InvalidRowError({ resource, uuid, reason: ParseResult.TreeFormatter.formatErrorSync(e) }),
        onRight: (f) => f as Record<string, unknown>
      })

const decodeEnvelope = Schema.decodeUnknownEither(RowStruct)

/** Check an already decoded envelope against its kind: ownership rules and the fields' schema. */
export const validateRow = (resource: ResourceType, row: Row): Either.Either<Row, InvalidRowError> => {
  const fail = (reason: string) => Either.left(new InvalidRowError({ resource, uuid: row.uuid, reason }))
  if (deviceOwned.has(resource) !== (row.owner !== null)) {
    return fail(deviceOwned.has(resource) ? "a device-owned row needs an owner" : "a shared row has no owner")
  }
  if (row.owner !== null && !row.version.endsWith(row.owner)) {
    return fail("a device-owned row must be versioned by its owner's clock")
  }
  return Either.map(decodeFields(resource, row.uuid, row.fields), (fields) =>
    fields === row.fields ? row : { ...row, fields }
  )
}

/** Check a row from outside against its kind: envelope, ownership, fields. */
export const decodeRow = (resource: ResourceType, input: unknown): Either.Either<Row, InvalidRowError> => {
  const envelope = decodeEnvelope(input)
  if (Either.isLeft(envelope)) {
    const uuid =
      typeof input === "object" && input !== null && "uuid" in input
        ? String((input as { uuid: unknown }).uuid)
        : "?"
    return Either.left(
      new InvalidRowError({
        resource,
        uuid,
        reason: ParseResult.TreeFormatter.formatErrorSync(envelope.left)
      })
    )
  }
  return validateRow(resource, envelope.right)
}

/** The approximate size of one row's fields: string lengths, 9 per number, a few per value. */
const fieldsSize = (fields: Readonly<Record<string, unknown>>): number => {
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
