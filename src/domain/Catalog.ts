// The set of resource kinds an application declares (`schema(...)`), checked and compiled into what the
// engine needs: each kind's columns and their SQL types, a fast validator per kind that accepts exactly what
// the kind's Schema accepts, and the dependency order in which backfill pulls kinds. Keeps: a row is stored
// or applied only after its fields passed its kind's Schema; nothing in the engine depends on which kinds
// an application declares.
import { Either, ParseResult, Schema, SchemaAST } from "effect"
import { InvalidRowError, SchemaDefinitionError } from "./Errors.js"
import { uuidCheck } from "./Ids.js"
import { type AnyKind, type Family, ReferenceAnnotationId, ResourceType } from "./Resource.js"
import { MAX_ROW_SIZE, type Row, RowStruct, fieldsSize } from "./Row.js"

/** The kinds an application syncs, in the order it declared them. */
export interface AppSchema<Kinds extends ReadonlyArray<AnyKind> = ReadonlyArray<AnyKind>> {
  readonly kinds: Kinds
}

/** Declare the kinds an application syncs. Checked when the engine's Layer is built (`compile`). */
export const schema = <const Kinds extends ReadonlyArray<AnyKind>>(...kinds: Kinds): AppSchema<Kinds> => ({
  kinds
})

/** How a field is stored: TEXT, INTEGER, REAL, or INTEGER 0/1 read back as a boolean. */
export type ColumnType = "text" | "integer" | "real" | "boolean"

export interface Column {
  readonly name: string
  readonly type: ColumnType
  readonly nullable: boolean
  /** The kind this field points to (a `Resource.ref`), or null. */
  readonly reference: string | null
  /**
   * Accepts exactly the values the field's Schema accepts, except NaN and ±Infinity (which `Schema.Number`
   * accepts): no column can hold them (JSON and SQLite store them as NULL), so `decodeFields` refuses them.
   */
  readonly check: (u: unknown) => boolean
}

export interface CompiledKind {
  readonly name: string
  readonly family: Family
  readonly shared: boolean
  readonly columns: ReadonlyArray<Column>
  readonly schema: Schema.Schema.Any
  /** Fields from outside checked against the Schema and the row size limit; the Schema explains a refusal. */
  readonly decodeFields: (
    uuid: string,
    fields: unknown
  ) => Either.Either<Record<string, unknown>, InvalidRowError>
}

/** The compiled kinds of one application. */
export interface Catalog {
  /** Every kind, in dependency order (a kind after the kinds its references point to, where possible). */
  readonly kinds: ReadonlyArray<CompiledKind>
  readonly names: ReadonlyArray<string>
  readonly sharedNames: ReadonlyArray<string>
  readonly ownedNames: ReadonlyArray<string>
  readonly has: (name: string) => boolean
  /** The kind named `name`; only call with a name `has` accepts. */
  readonly kind: (name: string) => CompiledKind
  readonly isShared: (name: string) => boolean
}

/** Column names the envelope of every row takes. */
const RESERVED = new Set(["seq", "uuid", "version", "deleted", "owner"])
/** Kind names that are the fixed tables beside the kind tables in database.db (LibraryDbSchema), any prefix. */
const RESERVED_KINDS = new Set(["seq_counter", "store_identity", "migrations", "tidemark_migrations"])
const FIELD_NAME = /^[a-z_][a-z0-9_]{0,62}$/

const SUPPORTED =
  "use Schema.String, Schema.Int, Schema.Number, Schema.Boolean, Schema.Literal, Resource.ref, refinements of these, or Schema.NullOr of one of them"

/** `String.prototype.isWellFormed` (Node 20; not in the ES2022 lib): no lone surrogate. */
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed()

const isNull = (ast: SchemaAST.AST) => SchemaAST.isLiteral(ast) && ast.literal === null

const boundFilters = new Set<unknown>([
  Schema.MinLengthSchemaId,
  Schema.MaxLengthSchemaId,
  Schema.LengthSchemaId,
  Schema.GreaterThanSchemaId,
  Schema.GreaterThanOrEqualToSchemaId,
  Schema.LessThanSchemaId,
  Schema.LessThanOrEqualToSchemaId,
  Schema.BetweenSchemaId
])

const recognized = new Set([
  "minLength",
  "maxLength",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum"
])

/**
 * A refinement as a plain comparison, from effect's JSON Schema annotation of it: "int" for Schema.Int, a
 * predicate for lengths and bounds, undefined for anything else.
 */
const boundOf = (refinement: SchemaAST.Refinement): "int" | ((u: unknown) => boolean) | undefined => {
  const id = SchemaAST.getSchemaIdAnnotation(refinement)
  if (id._tag === "Some" && id.value === Schema.IntSchemaId) return "int"
  // Only effect's own length and bound filters: a custom filter may carry a JSON Schema annotation that
  // describes less than its predicate checks.
  if (id._tag === "None" || !boundFilters.has(id.value)) return undefined
  const json = SchemaAST.getJSONSchemaAnnotation(refinement)
  if (json._tag === "None") return undefined
  const entries = Object.entries(json.value as Record<string, unknown>)
  if (entries.length === 0 || !entries.every(([k, v]) => recognized.has(k) && typeof v === "number")) {
    return undefined
  }
  const limits = json.value as Partial<Record<string, number>>
  const { minLength, maxLength, minimum, maximum, exclusiveMinimum, exclusiveMaximum } = limits
  // Applied only after the base check: lengths to strings, bounds to numbers.
  return (u: unknown) => {
    const length = (u as string).length
    const n = u as number
    if (minLength !== undefined && length < minLength) return false
    if (maxLength !== undefined && length > maxLength) return false
    if (minimum !== undefined && n < minimum) return false
    if (maximum !== undefined && n > maximum) return false
    if (exclusiveMinimum !== undefined && n <= exclusiveMinimum) return false
    if (exclusiveMaximum !== undefined && n >= exclusiveMaximum) return false
    return true
  }
}

/** The SQL type and fast check of a field's Schema, or why it cannot be stored. */
const columnOf = (
  kind: string,
  name: string,
  field: unknown
): Either.Either<Column, SchemaDefinitionError> => {
  const fail = (reason: string) => Either.left(new SchemaDefinitionError({ kind, field: name, reason }))
  if (!FIELD_NAME.test(name)) return fail("a field name must be lower-case letters, digits and underscores")
  if (RESERVED.has(name)) return fail(`"${name}" is taken by the row envelope (${[...RESERVED].join(", ")})`)
  if (!Schema.isSchema(field)) return fail(`optional fields are not supported: make it Schema.NullOr(…)`)
  let ast = field.ast
  let nullable = false
  if (SchemaAST.isUnion(ast) && ast.types.some(isNull)) {
    nullable = true
    const rest = ast.types.filter((t) => !isNull(t))
    ast = rest.length === 1 ? rest[0]! : SchemaAST.Union.make(rest)
  }
  const valueSchema = Schema.make(ast)
  const reference = SchemaAST.getAnnotation<string>(ast, ReferenceAnnotationId).pipe((o) =>
    o._tag === "Some" ? o.value : null
  )
  // Refinements effect describes in its JSON Schema annotation (lengths, bounds, integers) are compiled into
  // plain comparisons; any other refinement is checked by its Schema.
  let bounds: Array<(u: unknown) => boolean> = []
  let compiled = true
  let integer = false
  let base = ast
  while (SchemaAST.isRefinement(base)) {
    const bound = boundOf(base)
    if (bound === "int") integer = true
    else if (bound === undefined) compiled = false
    else bounds.push(bound)
    base = base.from
  }
  const refined = !compiled
  let type: ColumnType
  let baseCheck: (u: unknown) => boolean
  if (SchemaAST.isStringKeyword(base)) {
    type = "text"
    // A lone surrogate cannot cross JSON or SQLite unchanged (it comes back as U+FFFD), and PostgreSQL's text
    // cannot hold NUL (U+0000): both are refused on every storage, so no device holds a row a hub cannot.
    baseCheck = (u) => typeof u === "string" && isWellFormed(u) && !u.includes("\u0000")
  } else if (SchemaAST.isNumberKeyword(base)) {
    type = integer ? "integer" : "real"
    baseCheck = integer ? (u) => Number.isSafeInteger(u) : (u) => typeof u === "number" && Number.isFinite(u)
  } else if (SchemaAST.isBooleanKeyword(base)) {
    type = "boolean"
    baseCheck = (u) => typeof u === "boolean"
  } else if (
    (SchemaAST.isLiteral(base) && typeof base.literal === "string") ||
    (SchemaAST.isUnion(base) &&
      base.types.every((t) => SchemaAST.isLiteral(t) && typeof t.literal === "string"))
  ) {
    const values = new Set(
      (SchemaAST.isUnion(base) ? base.types : [base]).map((t) => (t as SchemaAST.Literal).literal as string)
    )
    type = "text"
    baseCheck = (u) => typeof u === "string" && values.has(u)
  } else {
    return fail(`unsupported type ${String(field)}: ${SUPPORTED}`)
  }
  if (reference !== null) {
    // References are compared as uuids on every row of a page: the cached pattern check is cheap.
    const isUuid = uuidCheck()
    baseCheck = (u) => typeof u === "string" && isUuid(u)
    bounds = []
  }
  const byBounds = bounds.length === 0 ? baseCheck : (u: unknown) => baseCheck(u) && bounds.every((b) => b(u))
  const bySchema = Schema.is(valueSchema)
  const check = refined && reference === null ? (u: unknown) => byBounds(u) && bySchema(u) : byBounds
  return Either.right({
    name,
    type,
    nullable,
    reference,
    check: nullable ? (u) => u === null || check(u) : check
  })
}

/** The fast predicate of a kind's fields: exactly these keys, each value accepted by its column. */
const checkOf = (columns: ReadonlyArray<Column>): ((u: unknown) => boolean) => {
  const byName = new Map(columns.map((c) => [c.name, c]))
  return (u) => {
    if (typeof u !== "object" || u === null || Array.isArray(u)) return false
    let keys = 0
    for (const k in u) {
      keys++
      const c = byName.get(k)
      if (c === undefined || !c.check((u as Record<string, unknown>)[k])) return false
    }
    return keys === columns.length
  }
}

const compileKind = (kind: AnyKind): Either.Either<CompiledKind, SchemaDefinitionError> => {
  if (!Schema.is(ResourceType)(kind.name)) {
    return Either.left(
      new SchemaDefinitionError({
        kind: kind.name,
        field: null,
        reason:
          "a kind name must start with a lower-case letter and hold only lower-case letters, digits and underscores (at most 63)"
      })
    )
  }
  if (RESERVED_KINDS.has(kind.name)) {
    return Either.left(
      new SchemaDefinitionError({
        kind: kind.name,
        field: null,
        reason: `the name of a table Tidemark keeps beside the kinds' (${[...RESERVED_KINDS].join(", ")})`
      })
    )
  }
  const columns: Array<Column> = []
  for (const [name, field] of Object.entries(kind.fields)) {
    const column = columnOf(kind.name, name, field)
    if (Either.isLeft(column)) return Either.left(column.left)
    columns.push(column.right)
  }
  const fast = checkOf(columns)
  const decode = Schema.decodeUnknownEither(kind.schema as unknown as Schema.Schema<unknown>, {
    onExcessProperty: "error"
  })
  const tooLarge = (uuid: string, size: number) =>
    new InvalidRowError({
      resource: kind.name,
      uuid,
      reason: `its fields take about ${size} characters, more than the limit of ${MAX_ROW_SIZE}`
    })
  const decodeFields = (
    uuid: string,
    fields: unknown
  ): Either.Either<Record<string, unknown>, InvalidRowError> => {
    if (fast(fields)) {
      const size = fieldsSize(fields as Record<string, unknown>)
      return size > MAX_ROW_SIZE
        ? Either.left(tooLarge(uuid, size))
        : Either.right(fields as Record<string, unknown>)
    }
    // Only a refused row pays for the Schema: it says what is wrong, field by field.
    const decoded = decode(fields)
    if (Either.isLeft(decoded)) {
      return Either.left(
        new InvalidRowError({
          resource: kind.name,
          uuid,
          reason: ParseResult.TreeFormatter.formatErrorSync(decoded.left)
        })
      )
    }
    const row = decoded.right as Record<string, unknown>
    // The Schema accepts a few values no column can hold (Schema.Number's NaN and ±Infinity would be stored
    // as NULL): refuse them rather than store a row that reads back different.
    const unstorable = columns.filter((c) => !c.check(row[c.name])).map((c) => c.name)
    if (unstorable.length > 0) {
      return Either.left(
        new InvalidRowError({
          resource: kind.name,
          uuid,
          reason: `${unstorable.join(", ")}: NaN, ±Infinity and strings with a lone surrogate or a NUL (U+0000) cannot be stored as they are on every storage (declare numbers Schema.Finite)`
        })
      )
    }
    const size = fieldsSize(row)
    return size > MAX_ROW_SIZE ? Either.left(tooLarge(uuid, size)) : Either.right(row)
  }
  return Either.right({
    name: kind.name,
    family: kind.family,
    shared: kind.family === "shared",
    columns,
    schema: kind.schema,
    decodeFields
  })
}

/**
 * Kinds in dependency order: each after the kinds it references, otherwise in declaration order. A cycle of
 * references (an entry's parent is an entry; two kinds pointing at each other) keeps declaration order.
 */
const dependencyOrder = (kinds: ReadonlyArray<CompiledKind>): ReadonlyArray<CompiledKind> => {
  const placed = new Set<string>()
  const ordered: Array<CompiledKind> = []
  const visiting = new Set<string>()
  const byName = new Map(kinds.map((k) => [k.name, k]))
  const visit = (k: CompiledKind) => {
    if (placed.has(k.name) || visiting.has(k.name)) return
    visiting.add(k.name)
    for (const c of k.columns) {
      const target = c.reference === null ? undefined : byName.get(c.reference)
      if (target !== undefined && target !== k) visit(target)
    }
    visiting.delete(k.name)
    placed.add(k.name)
    ordered.push(k)
  }
  kinds.forEach(visit)
  return ordered
}

/** Check an application's declared kinds and compile them, or say which declaration is wrong. */
export const compile = (app: AppSchema): Either.Either<Catalog, SchemaDefinitionError> => {
  const compiled: Array<CompiledKind> = []
  const seen = new Set<string>()
  if (app.kinds.length === 0) {
    return Either.left(
      new SchemaDefinitionError({ kind: "(none)", field: null, reason: "declare at least one kind" })
    )
  }
  for (const kind of app.kinds) {
    if (seen.has(kind.name)) {
      return Either.left(
        new SchemaDefinitionError({ kind: kind.name, field: null, reason: "declared twice" })
      )
    }
    seen.add(kind.name)
    const c = compileKind(kind)
    if (Either.isLeft(c)) return Either.left(c.left)
    compiled.push(c.right)
  }
  for (const k of compiled) {
    for (const c of k.columns) {
      if (c.reference !== null && !seen.has(c.reference)) {
        return Either.left(
          new SchemaDefinitionError({
            kind: k.name,
            field: c.name,
            reason: `refers to kind ${c.reference}, which is not declared`
          })
        )
      }
    }
  }
  const kinds = dependencyOrder(compiled)
  const byName = new Map(kinds.map((k) => [k.name, k]))
  return Either.right({
    kinds,
    names: kinds.map((k) => k.name),
    sharedNames: kinds.filter((k) => k.shared).map((k) => k.name),
    ownedNames: kinds.filter((k) => !k.shared).map((k) => k.name),
    has: (name) => byName.has(name),
    kind: (name) => byName.get(name)!,
    isShared: (name) => byName.get(name)?.shared ?? false
  })
}

/** `compile` for schemas known to be right (the file library's, tests'): a wrong one is a defect. */
export const unsafeCompile = (app: AppSchema): Catalog =>
  Either.getOrElse(compile(app), (e) => {
    throw new Error(e.message)
  })

/** Check an already decoded envelope against its kind: ownership rules and the fields' Schema. */
export const validateRow = (kind: CompiledKind, row: Row): Either.Either<Row, InvalidRowError> => {
  const fail = (reason: string) =>
    Either.left(new InvalidRowError({ resource: kind.name, uuid: row.uuid, reason }))
  if (kind.shared === (row.owner !== null)) {
    return fail(kind.shared ? "a shared row has no owner" : "a device-owned row needs an owner")
  }
  if (row.owner !== null && !row.version.endsWith(row.owner)) {
    return fail("a device-owned row must be versioned by its owner's clock")
  }
  return Either.map(kind.decodeFields(row.uuid, fromOtherVersion(kind, row.fields)), (fields) =>
    fields === row.fields ? row : { ...row, fields }
  )
}

/**
 * A peer may run another version of the application: its rows may lack a nullable field this version added
 * (it reads as null, as in rows stored before the field existed) or carry fields this version does not
 * declare (dropped). Anything else is left for the kind's check to refuse. Rows that already match are
 * returned as they are, so the common case costs one key count.
 */
const fromOtherVersion = (kind: CompiledKind, fields: Record<string, unknown>): Record<string, unknown> => {
  let keys = 0
  for (const _ in fields) keys++
  if (keys === kind.columns.length && kind.columns.every((c) => c.name in fields)) return fields
  const adapted: Record<string, unknown> = {}
  for (const c of kind.columns) {
    if (c.name in fields) adapted[c.name] = fields[c.name]
    else if (c.nullable) adapted[c.name] = null
    else return fields
  }
  return adapted
}

const decodeEnvelope = Schema.decodeUnknownEither(RowStruct)

/** Check a row from outside against its kind: envelope, ownership, fields. */
export const decodeRow = (kind: CompiledKind, input: unknown): Either.Either<Row, InvalidRowError> => {
  const envelope = decodeEnvelope(input)
  if (Either.isLeft(envelope)) {
    const uuid =
      typeof input === "object" && input !== null && "uuid" in input
        ? String((input as { uuid: unknown }).uuid)
        : "?"
    return Either.left(
      new InvalidRowError({
        resource: kind.name,
        uuid,
        reason: ParseResult.TreeFormatter.formatErrorSync(envelope.left)
      })
    )
  }
  return validateRow(kind, envelope.right)
}
