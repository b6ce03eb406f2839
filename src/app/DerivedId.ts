// Name-based identifiers: a UUID computed from a list of names (SHA-256, shaped like an RFC 4122 version 5
// UUID). Keeps: the same names always give the same uuid, on every device and in every run, so re-indexing a
// folder or re-assigning a tag updates the same row instead of creating a twin.
import { createHash } from "node:crypto"

/** The uuid named by `parts` (order matters; parts are separated so ["ab","c"] and ["a","bc"] differ). */
export const derivedUuid = (...parts: ReadonlyArray<string>): string => {
  const hash = createHash("sha256")
  for (const p of parts) hash.update(`${p.length}:${p}\u0000`)
  const b = hash.digest().subarray(0, 16)
  b[6] = (b[6]! & 0x0f) | 0x50
  b[8] = (b[8]! & 0x3f) | 0x80
  const h = b.toString("hex")
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}
