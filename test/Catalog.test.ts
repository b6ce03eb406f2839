// Catalog.compile: which declarations it refuses (and says where), how each field type is stored, the order
// backfill pulls kinds in, and the fast per-kind check against the kind's own Schema.
import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Either, FastCheck as fc, Schema } from "effect"
import { type AppSchema, compile, schema } from "../src/domain/Catalog.js"
import { FileLibrary, FileLibraryCatalog } from "../src/domain/FileLibrary.js"
import { type AnyKind, owned, ref, shared } from "../src/domain/Resource.js"

const definitionError = (app: AppSchema) => {
  const result = compile(app)
  if (Either.isRight(result)) throw new Error("expected compile to refuse the schema")
  return result.left
}

/** A kind built around one field, for the field-type cases (the cast: the Schema is deliberately wrong). */
const withField = (field: unknown): AnyKind =>
  owned("thing", { ok: Schema.String, bad: field as Schema.Schema.Any })

const columnsOf = (kind: AnyKind) => {
  const catalog = Either.getOrThrow(compile(schema(kind)))
  return Object.fromEntries(
    catalog
      .kind(kind.name)
      .columns.map((c) => [c.name, { type: c.type, nullable: c.nullable, reference: c.reference }])
  )
}

describe("Catalog.compile refuses what it cannot store, naming kind and field", () => {
  it.each([
    ["Schema.Date", Schema.Date],
    ["Schema.Array(Schema.String)", Schema.Array(Schema.String)],
    ["Schema.Struct", Schema.Struct({ a: Schema.String })],
    ["Schema.optional(Schema.String)", Schema.optional(Schema.String)],
    ["Schema.optional(Schema.NullOr(Schema.String))", Schema.optional(Schema.NullOr(Schema.String))],
    ["Schema.NumberFromString", Schema.NumberFromString],
    ["Schema.Literal of numbers", Schema.Literal(1, 2)],
    ["Schema.Union(String, Number)", Schema.Union(Schema.String, Schema.Number)],
    ["Schema.Unknown", Schema.Unknown]
  ])("an unsupported field type: %s", (_, field) => {
    const e = definitionError(schema(withField(field)))
    expect(e._tag).toBe("SchemaDefinitionError")
    expect({ kind: e.kind, field: e.field }).toEqual({ kind: "thing", field: "bad" })
  })

  it.each(["seq", "uuid", "version", "deleted", "owner"])(
    "a field named like the envelope column %s",
    (name) => {
      const e = definitionError(schema(owned("thing", { [name]: Schema.String })))
      expect({ kind: e.kind, field: e.field }).toEqual({ kind: "thing", field: name })
      expect(e.reason).toContain("envelope")
    }
  )

  it.each([
    ["upper case", "Note"],
    ["a leading digit", "1note"],
    ["a hyphen", "my-note"],
    ["more than 63 characters", "n".repeat(64)],
    ["the empty name", ""]
  ])("a kind name with %s", (_, name) => {
    const e = definitionError(schema(owned(name, { title: Schema.String })))
    expect({ kind: e.kind, field: e.field }).toEqual({ kind: name, field: null })
  })

  it("accepts a kind name of exactly 63 characters", () => {
    expect(Either.isRight(compile(schema(owned("n".repeat(63), { title: Schema.String }))))).toBe(true)
  })

  it("a kind declared twice, even once owned and once shared", () => {
    const e = definitionError(
      schema(owned("note", { title: Schema.String }), shared("note", { x: Schema.Int }))
    )
    expect({ kind: e.kind, field: e.field }).toEqual({ kind: "note", field: null })
    expect(e.reason).toContain("twice")
  })

  it("a reference to a kind that is not declared, directly or through NullOr", () => {
    for (const field of [ref("label"), Schema.NullOr(ref("label"))]) {
      const e = definitionError(schema(owned("note", { title: Schema.String, label: field })))
      expect({ kind: e.kind, field: e.field }).toEqual({ kind: "note", field: "label" })
      expect(e.reason).toContain("label")
    }
  })

  it("an empty schema", () => {
    expect(definitionError(schema())._tag).toBe("SchemaDefinitionError")
  })

  it("a field name that is not a column name", () => {
    const e = definitionError(schema(owned("note", { Title: Schema.String })))
    expect({ kind: e.kind, field: e.field }).toEqual({ kind: "note", field: "Title" })
  })

  it("a kind name that is one of Tidemark's own tables", () => {
    for (const name of ["seq_counter", "store_identity", "migrations", "tidemark_migrations"]) {
      const e = definitionError(schema(owned(name, { title: Schema.String })))
      expect({ kind: e.kind, field: e.field }).toEqual({ kind: name, field: null })
    }
  })
})

describe("Catalog column types", () => {
  const Label = shared("label", { name: Schema.String })
  const Everything = owned("everything", {
    s: Schema.String,
    lit: Schema.Literal("a", "b"),
    lit1: Schema.Literal("only"),
    i: Schema.Int,
    inn: Schema.Int.pipe(Schema.nonNegative()),
    n: Schema.Number,
    b: Schema.Boolean,
    r: ref("label"),
    ns: Schema.NullOr(Schema.String),
    nlit: Schema.NullOr(Schema.Literal("a", "b")),
    ni: Schema.NullOr(Schema.Int),
    nn: Schema.NullOr(Schema.Number),
    nb: Schema.NullOr(Schema.Boolean),
    nr: Schema.NullOr(ref("label"))
  })

  it("each field type maps to its SQL type, nullability and reference", () => {
    const catalog = Either.getOrThrow(compile(schema(Everything, Label)))
    const columns = Object.fromEntries(
      catalog
        .kind("everything")
        .columns.map((c) => [c.name, { type: c.type, nullable: c.nullable, reference: c.reference }])
    )
    const col = (type: string, nullable = false, reference: string | null = null) => ({
      type,
      nullable,
      reference
    })
    expect(columns).toEqual({
      s: col("text"),
      lit: col("text"),
      lit1: col("text"),
      i: col("integer"),
      inn: col("integer"),
      n: col("real"),
      b: col("boolean"),
      r: col("text", false, "label"),
      ns: col("text", true),
      nlit: col("text", true),
      ni: col("integer", true),
      nn: col("real", true),
      nb: col("boolean", true),
      nr: col("text", true, "label")
    })
  })

  it("refinements keep their base type: Int.pipe(between), String.pipe(minLength), Schema.Finite", () => {
    expect(
      columnsOf(
        owned("thing", {
          a: Schema.Int.pipe(Schema.between(0, 10)),
          b: Schema.String.pipe(Schema.minLength(2)),
          c: Schema.Finite,
          d: Schema.NonNegativeInt,
          e: Schema.NullOr(Schema.Number.pipe(Schema.greaterThan(0)))
        })
      )
    ).toEqual({
      a: { type: "integer", nullable: false, reference: null },
      b: { type: "text", nullable: false, reference: null },
      c: { type: "real", nullable: false, reference: null },
      d: { type: "integer", nullable: false, reference: null },
      e: { type: "real", nullable: true, reference: null }
    })
  })
})

describe("Catalog dependency order", () => {
  const A = owned("a", { b: ref("b") })
  const B = owned("b", { c: ref("c") })
  const C = owned("c", { name: Schema.String })

  it("a kind comes after the kinds it references, whatever the declaration order", () => {
    fc.assert(
      fc.property(fc.shuffledSubarray([A, B, C], { minLength: 3 }), (kinds) => {
        expect(Either.getOrThrow(compile(schema(...kinds))).names).toEqual(["c", "b", "a"])
      })
    )
  })

  it("kinds that reference nothing keep declaration order", () => {
    const X = shared("x", { name: Schema.String })
    const Y = owned("y", { name: Schema.String })
    expect(Either.getOrThrow(compile(schema(Y, X, C))).names).toEqual(["y", "x", "c"])
  })

  it("a self-reference keeps declaration order", () => {
    const Node = owned("node", { parent: Schema.NullOr(ref("node")) })
    const Other = owned("other", { name: Schema.String })
    expect(Either.getOrThrow(compile(schema(Other, Node))).names).toEqual(["other", "node"])
    expect(Either.getOrThrow(compile(schema(Node, Other))).names).toEqual(["node", "other"])
  })

  it("a cycle keeps declaration order and still places the kinds that depend on it after it", () => {
    const P = owned("p", { q: Schema.NullOr(ref("q")) })
    const Q = owned("q", { p: Schema.NullOr(ref("p")) })
    const R = owned("r", { p: ref("p") })
    const names = (...kinds: ReadonlyArray<AnyKind>) => Either.getOrThrow(compile(schema(...kinds))).names
    expect(names(P, Q)).toHaveLength(2)
    expect(names(R, P, Q).indexOf("r")).toBeGreaterThan(names(R, P, Q).indexOf("p"))
    expect(new Set(names(Q, R, P))).toEqual(new Set(["p", "q", "r"]))
  })

  it("the file library: volume before location before entry; tag and entry before tag_assignment", () => {
    const names = FileLibraryCatalog.names
    const before = (a: string, b: string) => expect(names.indexOf(a)).toBeLessThan(names.indexOf(b))
    before("volume", "location")
    before("location", "entry")
    before("tag", "tag_assignment")
    before("entry", "tag_assignment")
    before("collection", "collection_entry")
    before("entry", "collection_entry")
    expect([...names].sort()).toEqual(FileLibrary.kinds.map((k) => k.name).sort())
  })
})

// An app-defined kind with every supported field type, refinements, literals and NullOr of each.
const Label = shared("label", { name: Schema.String })
const Everything = owned("everything", {
  s: Schema.String,
  s2: Schema.String.pipe(Schema.minLength(2)),
  lit: Schema.Literal("a", "b"),
  lit1: Schema.Literal("only"),
  i: Schema.Int,
  i10: Schema.Int.pipe(Schema.between(0, 10)),
  n: Schema.Number,
  fin: Schema.Finite,
  pos: Schema.Number.pipe(Schema.greaterThan(0)),
  b: Schema.Boolean,
  r: ref("label"),
  ns: Schema.NullOr(Schema.String),
  ns2: Schema.NullOr(Schema.String.pipe(Schema.minLength(2))),
  nlit: Schema.NullOr(Schema.Literal("a", "b")),
  ni: Schema.NullOr(Schema.Int),
  ni10: Schema.NullOr(Schema.Int.pipe(Schema.between(0, 10))),
  nn: Schema.NullOr(Schema.Number),
  nb: Schema.NullOr(Schema.Boolean),
  nr: Schema.NullOr(ref("label"))
})
const catalog = Either.getOrThrow(compile(schema(Everything, Label)))
const compiled = catalog.kind("everything")
const columnNames = compiled.columns.map((c) => c.name)
const decodeBySchema = Schema.decodeUnknownEither(Everything.schema, { onExcessProperty: "error" })
/** NaN and ±Infinity: Schema.Number accepts them, no column can store them, so the Catalog refuses them. */
const unstorable = (v: unknown) => typeof v === "number" && !Number.isFinite(v)
/** What the Schema accepts, less rows holding a number no column can store. */
const bySchema = (fields: unknown) =>
  Either.isRight(decodeBySchema(fields)) && !Object.values(fields as object).some(unstorable)

// Values on the edges of every field type (the idea of Resource.test.ts's generator, widened).
const edgeValue = fc.oneof(
  fc.constantFrom(null, undefined, true, false, 0, 1, -1, 10, 11, 2.5, -0, NaN, Infinity, -Infinity),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, Number.MIN_VALUE, 1e308),
  fc.constantFrom("", "a", "b", "ab", "only", "c", "0", "true", " a"),
  fc.uuid().map((u) => u.toLowerCase()),
  fc.uuid().map((u) => u.toUpperCase()),
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constantFrom({}, [], { a: 1 }, ["a"], new Date(0))
)

/**
 * Rows near the boundary: a valid row (from the kind's own Schema, by effect's Arbitrary) with up to three
 * changes, each a dropped key, a replaced value, or an extra key; plus arbitrary values of any shape.
 */
const fieldsArb: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(
        Arbitrary.make(Everything.schema),
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant("drop" as const), key: fc.constantFrom(...columnNames) }),
            fc.record({
              op: fc.constant("set" as const),
              key: fc.constantFrom(...columnNames),
              value: edgeValue
            }),
            fc.record({
              op: fc.constant("extra" as const),
              key: fc.constantFrom("unknown_column", "seq", "uuid", "owner", "S", "__proto__"),
              value: edgeValue
            })
          ),
          { maxLength: 3 }
        )
      )
      .map(([valid, changes]) => {
        const o: Record<string, unknown> = { ...valid }
        for (const c of changes) {
          if (c.op === "drop") delete o[c.key]
          else
            Object.defineProperty(o, c.key, {
              value: c.value,
              enumerable: true,
              writable: true,
              configurable: true
            })
        }
        return o
      })
  },
  { weight: 1, arbitrary: edgeValue },
  { weight: 1, arbitrary: fc.anything() },
  { weight: 1, arbitrary: fc.dictionary(fc.constantFrom(...columnNames), edgeValue) }
)

describe("Catalog's fast check of an app-defined kind", () => {
  it.prop(
    "decodeFields accepts exactly what the kind's Schema accepts (onExcessProperty: error), NaN and ±Infinity aside",
    [fieldsArb],
    ([fields]) => {
      expect(Either.isRight(compiled.decodeFields("u", fields))).toBe(bySchema(fields))
    },
    { fastCheck: { numRuns: 5000 } }
  )

  it.prop(
    "the fast path alone decides: a row the Schema accepts comes back as itself, not re-decoded",
    [fieldsArb],
    ([fields]) => {
      const result = compiled.decodeFields("u", fields)
      const viaFastPath = Either.isRight(result) && result.right === fields
      expect(viaFastPath).toBe(bySchema(fields))
    },
    { fastCheck: { numRuns: 5000 } }
  )

  it.prop(
    "each column's check accepts exactly what its field's Schema accepts, NaN and ±Infinity aside",
    [fc.constantFrom(...compiled.columns), edgeValue],
    ([column, value]) => {
      const field = Everything.fields[column.name as keyof typeof Everything.fields]
      expect(column.check(value)).toBe(Schema.is(field as Schema.Schema.Any)(value) && !unstorable(value))
    },
    { fastCheck: { numRuns: 5000 } }
  )

  it("NaN and ±Infinity, which Schema.Number accepts, are refused with the field's name", () => {
    const valid = fc.sample(Arbitrary.make(Everything.schema), 1)[0]!
    for (const n of [NaN, Infinity, -Infinity]) {
      expect(Either.isRight(decodeBySchema({ ...valid, n }))).toBe(true)
      const result = compiled.decodeFields("u1", { ...valid, n, nn: n })
      expect(Either.isLeft(result) && result.left.reason).toMatch(/^n, nn: .*Schema\.Finite/)
    }
  })

  it("a refused row says which field is wrong", () => {
    const valid = fc.sample(Arbitrary.make(Everything.schema), 1)[0]!
    const result = compiled.decodeFields("u1", { ...valid, s2: "x" })
    expect(Either.isLeft(result) && result.left.reason).toContain("s2")
  })
})
