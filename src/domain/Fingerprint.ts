// Fingerprints of sets of (uuid, version): two devices compare them over uuid ranges to find, without
// sending the rows, which ranges hold different rows (range-based set reconciliation). A fingerprint is the
// count and two sums, mod 2^32, of independent 32-bit hashes of each member, so it does not depend on the
// order rows are visited in and can be computed range by range.
import { Schema } from "effect"

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

/** FNV-1a over a string, from a seed. */
const fnv = (s: string, seed: number): number => {
  let h = seed >>> 0
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/** An accumulator: add members one by one, read the fingerprint at the end. */
export const accumulator = () => {
  let count = 0
  let h1 = 0
  let h2 = 0
  return {
    add: (uuid: string, version: string) => {
      const key = `${uuid}|${version}`
      count += 1
      h1 = (h1 + fnv(key, 0x811c9dc5)) >>> 0
      h2 = (h2 + fnv(key, 0x6a09e667)) >>> 0
    },
    result: (): Fingerprint => ({ count, h1, h2 })
  }
}

export const equals = (a: Fingerprint, b: Fingerprint): boolean =>
  a.count === b.count && a.h1 === b.h1 && a.h2 === b.h2

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
