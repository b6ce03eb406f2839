// Column types of resource fields. Each is a Schema (the source of truth, with its error messages) and a
// plain predicate that accepts exactly what the Schema accepts: the predicate validates the hot path (a
// million rows a second), and only a row it rejects is decoded again by the Schema to say why. A property
// test keeps the two in agreement.
import { Schema } from "effect"
import { Uuid, uuidCheck } from "./Ids.js"

export interface Field<S extends Schema.Schema.Any> {
  readonly schema: S
  readonly check: (u: unknown) => boolean
  /** Stored as an INTEGER column (otherwise TEXT). */
  readonly integer: boolean
}

const field = <S extends Schema.Schema.Any>(
  schema: S,
  check: (u: unknown) => boolean,
  integer = false
): Field<S> => ({
  schema,
  check,
  integer
})

const MAX_NAME = 4096
const isNonNegativeInt = (u: unknown) => typeof u === "number" && Number.isSafeInteger(u) && u >= 0

const isUuidField = uuidCheck()
const isNullableUuidField = uuidCheck()
export const uuid = field(Uuid, (u) => typeof u === "string" && isUuidField(u))
export const nullableUuid = field(
  Schema.NullOr(Uuid),
  (u) => u === null || (typeof u === "string" && isNullableUuidField(u))
)
export const name = field(
  Schema.String.pipe(Schema.minLength(1), Schema.maxLength(MAX_NAME)),
  (u) => typeof u === "string" && u.length >= 1 && u.length <= MAX_NAME
)
export const text = field(Schema.String, (u) => typeof u === "string")
export const nullableText = field(Schema.NullOr(Schema.String), (u) => u === null || typeof u === "string")
export const count = field(
  Schema.Int.pipe(Schema.nonNegative(), Schema.lessThanOrEqualTo(Number.MAX_SAFE_INTEGER)),
  isNonNegativeInt,
  true
)
export const nullableCount = field(
  Schema.NullOr(Schema.Int.pipe(Schema.nonNegative(), Schema.lessThanOrEqualTo(Number.MAX_SAFE_INTEGER))),
  (u) => u === null || isNonNegativeInt(u),
  true
)
export const literal = <const L extends ReadonlyArray<string>>(...values: L) =>
  field(
    Schema.Literal(...values),
    (u) => typeof u === "string" && (values as ReadonlyArray<string>).includes(u)
  )

export type Fields = Record<string, Field<Schema.Schema.Any>>

/** The Schema of a record of fields. */
export const structOf = <F extends Fields>(fields: F) =>
  Schema.Struct(
    Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.schema])) as {
      readonly [K in keyof F]: F[K]["schema"]
    }
  )

/** The fast predicate of a record of fields: exactly these keys, each value accepted by its field. */
export const checkOf = (fields: Fields): ((u: unknown) => boolean) => {
  const entries = Object.entries(fields)
  return (u) => {
    if (typeof u !== "object" || u === null || Array.isArray(u)) return false
    let keys = 0
    for (const k in u) {
      keys++
      const f = fields[k]
      if (f === undefined || !f.check((u as Record<string, unknown>)[k])) return false
    }
    return keys === entries.length
  }
}
