// Declaring what an application syncs: resource kinds, each a name and an effect Schema of its fields.
// Device-owned kinds are written only by the device that owns a row; shared kinds by any device, through the
// HLC log. Declarations are plain values: `Catalog.compile` checks them and derives tables and validators.
import { Schema } from "effect"

/** Who may write a kind's rows: only the owning device ("owned") or any device of the library ("shared"). */
export type Family = "owned" | "shared"

/** Any declared kind, whatever its fields: what functions over kinds accept. */
export interface AnyKind {
  readonly name: string
  readonly family: Family
  readonly fields: Schema.Struct.Fields
  readonly schema: Schema.Schema.Any
}

/** A declared resource kind: its name (also its table's name), who writes it, and its fields. */
export interface Kind<
  Name extends string,
  Fields extends Schema.Struct.Fields,
  F extends Family
> extends AnyKind {
  readonly name: Name
  readonly family: F
  readonly fields: Fields
  /** The Schema of a row's fields. */
  readonly schema: Schema.Struct<Fields>
}

/** The fields of a row of kind `K`, as an application writes and reads them. */
export type FieldsOf<K extends AnyKind> = Schema.Struct.Type<K["fields"]>

const make = <const Name extends string, const Fields extends Schema.Struct.Fields, F extends Family>(
  name: Name,
  family: F,
  fields: Fields
): Kind<Name, Fields, F> => ({ name, family, fields, schema: Schema.Struct(fields) })

/**
 * A device-owned kind: a row belongs to the device that wrote it, and only that device may change or delete
 * it. Peers pull it by per-(peer, kind) cursors; the newest version wins.
 *
 * Field types: `Schema.String` (and refinements of it, `Schema.Literal` of strings), `Schema.Int`,
 * `Schema.Number`, `Schema.Boolean`, `Resource.ref(kind)`, and `Schema.NullOr` of any of these. A number
 * field refuses NaN and ±Infinity even where its Schema accepts them: no column can store them.
 */
export const owned = <const Name extends string, const Fields extends Schema.Struct.Fields>(
  name: Name,
  fields: Fields
): Kind<Name, Fields, "owned"> => make(name, "owned", fields)

/**
 * A shared kind: any device may write any row; changes travel through the HLC-stamped shared log and the
 * write with the highest version wins (last writer wins). Field types as for `owned`.
 */
export const shared = <const Name extends string, const Fields extends Schema.Struct.Fields>(
  name: Name,
  fields: Fields
): Kind<Name, Fields, "shared"> => make(name, "shared", fields)

/** The annotation that marks a field as a reference to a row of another kind. */
export const ReferenceAnnotationId: unique symbol = Symbol.for("tidemark/Reference")

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/**
 * A field that holds the uuid of a row of kind `kind` (a lower-case UUID). The row it points to may arrive
 * later than the row that points to it: such rows are kept, never dropped. Rows can be listed by it
 * (`Database.listBy`), and its column is indexed.
 */
export const ref = (kind: string) =>
  Schema.String.pipe(
    Schema.pattern(uuidPattern, { message: () => `expected the lower-case uuid of a ${kind}` })
  ).annotations({ [ReferenceAnnotationId]: kind })

/** A kind's name as it crosses the wire; whether this device declares it is checked against its Catalog. */
export const ResourceType = Schema.String.pipe(Schema.pattern(/^[a-z][a-z0-9_]{0,62}$/))
export type ResourceType = string
