// Fingerprints of sets of rows: two devices compare them over uuid ranges to find, without sending the rows,
// which ranges hold different rows (range-based set reconciliation). A member is a row's uuid, version and
// contents (its canonical encoding, `Contents`), so a row edited in place — by hand or by corruption, at the
// same version — makes its range differ too. A fingerprint is the count and two sums, mod 2^32, of
// independent 32-bit hashes of each member, so it does not depend on the order rows are visited in and can
// be computed range by range.
import { createHash } from "node:crypto"
import { Schema } from "effect"
import type { ColumnType } from "./Catalog.js"

/** A half-open range of uuids [lo, hi). Uuid characters are 0-9, a-f and "-", all below "g". */
export const UuidRange = Schema.Struct({ lo: Schema.String, hi: Schema.String })
export type UuidRange = typeof UuidRange.Type

export const FULL_RANGE: UuidRange = { lo: "", hi: "g" }

export const Fingerprint = Schema.Struct({
  count: Schema.Int.pipe(Schema.nonNegative()),
  h1: Schema.Int.pipe(Schema.nonNegative()),
  h2: Schema.Int.pipe(Schema.nonNegative())
})
export type Fingerprint = typeof Fingerprint.Type

export const empty: Fingerprint = { count: 0, h1: 0, h2: 0 }

const FNV_PRIME = 0x01000193

/** An accumulator: add members one by one, read the fingerprint at the end. */
export const accumulator = () => {
  let count = 0
  let h1 = 0
  let h2 = 0
  // FNV-1a of `uuid|version|` and of the contents' hash, from two seeds, without building the string. The
  // contents, the longest part, are hashed once (`h`) and their 32-bit hash is fed to both.
  let a = 0
  let b = 0
  let h = 0
  const feedKey = (s: string) => {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i)
      a = Math.imul(a ^ c, FNV_PRIME)
      b = Math.imul(b ^ c, FNV_PRIME)
    }
  }
  const feedContents = (s: string) => {
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME)
  }
  const begin = (uuid: string, version: string) => {
    a = 0x811c9dc5
    b = 0x6a09e667
    h = 0x811c9dc5
    feedKey(uuid)
    feedKey("|")
    feedKey(version)
    feedKey("|")
  }
  const end = () => {
    for (let k = 0; k < 32; k += 8) {
      const c = (h >>> k) & 0xff
      a = Math.imul(a ^ c, FNV_PRIME)
      b = Math.imul(b ^ c, FNV_PRIME)
    }
    count += 1
    h1 = (h1 + (a >>> 0)) >>> 0
    h2 = (h2 + (b >>> 0)) >>> 0
  }
  return {
    /** Add the row `uuid` at `version` whose canonical contents (`Contents.ofRow`) are `contents`. */
    add: (uuid: string, version: string, contents: string) => {
      begin(uuid, version)
      feedContents(contents)
      end()
    },
    /**
     * Add a row read from a store as an array of values (see `Contents.feedValues`): the same member as
     * `add` with its canonical contents, without building them as one string.
     */
    addValues: (
      uuid: string,
      version: string,
      encoder: Contents,
      deleted: unknown,
      owner: unknown,
      values: ReadonlyArray<unknown>,
      first: number
    ) => {
      begin(uuid, version)
      encoder.feedValues(feedContents, deleted, owner, values, first)
      end()
    },
    /** Add a row as the application sees it: the same member as `add` with `encoder.ofRow(row)`. */
    addRow: (
      row: {
        readonly uuid: string
        readonly version: string
        readonly deleted: boolean
        readonly owner: string | null
        readonly fields: Readonly<Record<string, unknown>>
      },
      encoder: Contents
    ) => {
      begin(row.uuid, row.version)
      encoder.feedRow(feedContents, row)
      end()
    },
    result: (): Fingerprint => ({ count, h1, h2 })
  }
}

/** The fingerprint of two disjoint sets together (fingerprints are sums). */
export const plus = (a: Fingerprint, b: Fingerprint): Fingerprint => ({
  count: a.count + b.count,
  h1: (a.h1 + b.h1) >>> 0,
  h2: (a.h2 + b.h2) >>> 0
})

export const equals = (a: Fingerprint, b: Fingerprint): boolean =>
  a.count === b.count && a.h1 === b.h1 && a.h2 === b.h2

/**
 * The canonical encoding of a row's contents: `deleted`, `owner`, then each declared field in field-name
 * order as `|name=` and its value — text as `s<length>:<text>`, numbers as `n<shortest decimal>`, booleans as
 * `b1`/`b0`. It depends only on the values the application sees, never on how a store holds them (booleans as
 * 0/1, PostgreSQL bigints as strings), so SQLite and PostgreSQL devices agree. A null field is left out, so a
 * peer whose application version lacks a nullable field (it reads as null) encodes the same row the same.
 */
export interface Contents {
  /** The encoding of a row as the application sees it (`Row`: `deleted` boolean, `fields` by name). */
  readonly ofRow: (row: {
    readonly deleted: boolean
    readonly owner: string | null
    readonly fields: Readonly<Record<string, unknown>>
  }) => string
  /**
   * The same encoding, in pieces handed to `feed`, of a row read from a store as an array of values:
   * `deleted` (0/1) and `owner`, and the declared fields, in declaration order, from position `first` on.
   */
  readonly feedValues: (
    feed: (piece: string) => void,
    deleted: unknown,
    owner: unknown,
    values: ReadonlyArray<unknown>,
    first: number
  ) => void
  /** The same encoding of a row as the application sees it, in pieces handed to `feed`. */
  readonly feedRow: (
    feed: (piece: string) => void,
    row: {
      readonly deleted: boolean
      readonly owner: string | null
      readonly fields: Readonly<Record<string, unknown>>
    }
  ) => void
}

/** The canonical encoder of one kind's rows, from its declared fields (Catalog's columns). */
export const contents = (
  columns: ReadonlyArray<{ readonly name: string; readonly type: ColumnType }>
): Contents => {
  const order = columns
    .map((c, position) => ({ ...c, position, label: `|${c.name}=` }))
    .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
  const value = (type: ColumnType, v: unknown): string => {
    switch (type) {
      case "text": {
        const s = String(v)
        return `s${s.length}:${s}`
      }
      case "boolean":
        return v === true || v === 1 || v === "1" ? "b1" : "b0"
      default:
        // Number() also reads a PostgreSQL bigint that arrives as a string.
        return `n${String(Number(v))}`
    }
  }
  const feedValue = (feed: (piece: string) => void, c: (typeof order)[number], v: unknown) => {
    if (v === null || v === undefined) return
    feed(c.label)
    if (c.type === "text") {
      const s = String(v)
      feed("s")
      feed(String(s.length))
      feed(":")
      feed(s)
    } else feed(value(c.type, v))
  }
  const head = (deleted: boolean, owner: unknown) => `${deleted ? "d1" : "d0"}|o${owner ?? ""}`
  return {
    ofRow: (row) => {
      let s = head(row.deleted, row.owner)
      for (const c of order) {
        const v = row.fields[c.name]
        if (v !== null && v !== undefined) s += c.label + value(c.type, v)
      }
      return s
    },
    feedValues: (feed, deleted, owner, values, first) => {
      feed(deleted === 1 || deleted === true || deleted === "1" ? "d1|o" : "d0|o")
      if (owner !== null && owner !== undefined) feed(String(owner))
      for (const c of order) feedValue(feed, c, values[first + c.position])
    },
    feedRow: (feed, row) => {
      feed(row.deleted ? "d1|o" : "d0|o")
      if (row.owner !== null) feed(row.owner)
      for (const c of order) feedValue(feed, c, row.fields[c.name])
    }
  }
}

/**
 * A digest of canonical contents (SHA-256, hex). Where two copies of a row hold the same version but
 * different contents and neither is its owner's, the copy with the greater digest is kept: a choice both
 * devices make alike, whichever of them repairs.
 */
export const digest = (canonical: string): string => createHash("sha256").update(canonical).digest("hex")

/** The characters of a canonical uuid, in order. */
const ALPHABET = "-0123456789abcdef"
const UUID_LENGTH = 36

/** The first string above every string that starts with `prefix` (uuid characters only). */
const successor = (prefix: string): string => {
  if (prefix === "") return "g"
  const last = prefix[prefix.length - 1]!
  const i = ALPHABET.indexOf(last)
  return prefix.slice(0, -1) + (i === ALPHABET.length - 1 ? "g" : ALPHABET[i + 1]!)
}

/** All uuids that start with `prefix`. */
export const prefixRange = (prefix: string): UuidRange => ({ lo: prefix, hi: successor(prefix) })

/**
 * Split a prefix range (FULL_RANGE, or a part of an earlier split) into the ranges of its 17 one-character
 * longer prefixes. Every uuid has 36 characters, so the parts cover every uuid of the range exactly; a
 * full-length uuid cannot be split further.
 */
export const split = (range: UuidRange): ReadonlyArray<UuidRange> => {
  const prefix = range.lo
  if (prefix.length >= UUID_LENGTH) return [range]
  return ALPHABET.split("").map((c, i) => ({
    lo: prefix + c,
    hi: i === ALPHABET.length - 1 ? range.hi : prefix + ALPHABET[i + 1]!
  }))
}

/**
 * Prefix ranges that cover `range` exactly, as few as a prefix tree gives, when its bounds are themselves
 * prefixes' bounds ("" or a uuid prefix below, a uuid prefix or "g" above): a split backfill's ranges, whose
 * parts narrowing can then split further (`split`).
 */
export const prefixCover = (range: UuidRange): ReadonlyArray<UuidRange> => {
  const parts: Array<UuidRange> = []
  const visit = (prefix: string) => {
    const r = prefixRange(prefix)
    if (r.hi <= range.lo || r.lo >= range.hi) return
    if (r.lo >= range.lo && r.hi <= range.hi) parts.push(r)
    else if (prefix.length < UUID_LENGTH) for (const c of ALPHABET) visit(prefix + c)
  }
  visit("")
  return parts
}
