import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { decodeRow } from "../src/domain/Catalog.js"
import { FileLibraryCatalog } from "../src/domain/FileLibrary.js"
import type { ResourceType } from "../src/domain/Resource.js"
import { Row, Rows, RowStruct } from "../src/domain/Row.js"
import { Schema } from "effect"
import { Uuid, uuidCheck } from "../src/domain/Ids.js"
import { deviceA, uuidN } from "./support/fixtures.js"

// Values that probe every field type's edges.
const anyValue = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.uuid().map((u) => u.toLowerCase()),
  fc.uuid().map((u) => u.toUpperCase()),
  fc.constantFrom("", "file", "dir", "x".repeat(4097), "x".repeat(4096), "name"),
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.constantFrom(-1, 0, 1.5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, NaN, Infinity),
  fc.boolean(),
  fc.constant({}),
  fc.constant([])
)

const fieldsArb = (resource: ResourceType) =>
  fc
    .record({
      present: fc.subarray(FileLibraryCatalog.kind(resource).columns.map((c) => c.name)),
      values: fc.array(anyValue, { minLength: 8, maxLength: 8 }),
      extra: fc.option(fc.constantFrom("unknown_column", "seq"), { nil: undefined })
    })
    .map(({ present, values, extra }) => {
      const o: Record<string, unknown> = {}
      present.forEach((k, i) => (o[k] = values[i]))
      if (extra !== undefined) o[extra] = 1
      return o
    })

describe("resource rows", () => {
  it.prop(
    "uuidCheck accepts exactly what the Uuid schema accepts, string after string",
    [
      fc.array(
        fc.oneof(
          fc.constantFrom(
            deviceA,
            deviceA.toUpperCase(),
            `${deviceA}0`,
            deviceA.slice(1),
            deviceA.replace("-", "0")
          ),
          anyValue.filter((v): v is string => typeof v === "string")
        ),
        { maxLength: 20 }
      )
    ],
    ([strings]) => {
      const check = uuidCheck()
      expect(strings.map(check)).toEqual(strings.map((s) => Schema.is(Uuid)(s)))
    }
  )

  it.prop(
    "the fast field check accepts exactly what the field Schema accepts",
    [fc.constantFrom(...FileLibraryCatalog.names).chain((r) => fc.tuple(fc.constant(r), fieldsArb(r)))],
    ([[resource, fields]]) => {
      const bySchema = Either.isRight(
        Schema.decodeUnknownEither(
          FileLibraryCatalog.kind(resource).schema as unknown as Schema.Schema<unknown>,
          {
            onExcessProperty: "error"
          }
        )(fields)
      )
      expect(Either.isRight(FileLibraryCatalog.kind(resource).decodeFields("u", fields))).toBe(bySchema)
    },
    { fastCheck: { numRuns: 2000 } }
  )

  it.prop(
    "the wire check of a row envelope accepts exactly what the envelope Schema accepts",
    [
      fc.record(
        {
          uuid: anyValue,
          version: fc.oneof(
            anyValue,
            fc.constant(`000000000001.0000.${deviceA}`),
            fc.constant(`000000000001.0000.${deviceA.toUpperCase()}`),
            fc.constant("00000000001.0000.x")
          ),
          deleted: anyValue,
          owner: fc.oneof(anyValue, fc.constant(deviceA)),
          fields: fc.oneof(anyValue, fc.constant({ name: "x" }))
        },
        { requiredKeys: [] }
      )
    ],
    ([envelope]) => {
      expect(Schema.is(Row)(envelope)).toBe(Schema.is(RowStruct)(envelope))
    },
    { fastCheck: { numRuns: 3000 } }
  )

  it.prop(
    "the wire check of a page's rows accepts exactly the arrays whose every element is a valid envelope",
    [
      fc.oneof(
        fc.array(
          fc.oneof(
            fc.constant({
              uuid: uuidN(1),
              version: `000000000001.0000.${deviceA}`,
              deleted: false,
              owner: deviceA,
              fields: {}
            }),
            fc.constant({
              uuid: uuidN(2),
              version: `000000000002.0000.${deviceA}`,
              deleted: true,
              owner: null,
              fields: { name: "x" }
            }),
            fc.record({
              uuid: anyValue,
              version: anyValue,
              deleted: anyValue,
              owner: anyValue,
              fields: anyValue
            })
          ),
          { maxLength: 6 }
        ),
        anyValue
      )
    ],
    ([rows]) => {
      expect(Schema.is(Rows)(rows)).toBe(Schema.is(Schema.Array(RowStruct))(rows))
    },
    { fastCheck: { numRuns: 3000 } }
  )

  it("a device-owned row must name its owner and be versioned by it", () => {
    const fields = { volume: null, path: "/x", name: "x" }
    const version = `000000000001.0000.${deviceA}`
    expect(
      Either.isRight(
        decodeRow(FileLibraryCatalog.kind("location"), {
          uuid: uuidN(1),
          version,
          deleted: false,
          owner: deviceA,
          fields
        })
      )
    ).toBe(true)
    const noOwner = decodeRow(FileLibraryCatalog.kind("location"), {
      uuid: uuidN(1),
      version,
      deleted: false,
      owner: null,
      fields
    })
    expect(Either.isLeft(noOwner) && noOwner.left.reason).toContain("needs an owner")
    const otherClock = decodeRow(FileLibraryCatalog.kind("location"), {
      uuid: uuidN(1),
      version: "000000000001.0000.bbbbbbbb-0000-4000-8000-000000000002",
      deleted: false,
      owner: deviceA,
      fields
    })
    expect(Either.isLeft(otherClock) && otherClock.left._tag).toBe("InvalidRowError")
  })

  it("a malformed row says which field is wrong", () => {
    const result = FileLibraryCatalog.kind("entry").decodeFields("u1", { location: "nope" })
    expect(Either.isLeft(result) && result.left.message).toMatch(/location|kind|name/)
  })
})
