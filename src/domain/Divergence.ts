// How two copies of the rows of one uuid range differ, row by row, and which copy `verify --repair` keeps.
// Keeps: the choice is deterministic and the same whichever of the two devices makes it, so repairing from
// either side (or both) leads both to one copy. Rows at different versions follow last-writer-wins as
// everywhere else; a row whose contents differ at the same version (edited in place: by hand, a bug, a bad
// disk) is the one case this module decides: the owner's copy of a device-owned row when one of the two
// devices is its owner, otherwise the copy whose contents digest is greater (Fingerprint.digest).
import type { Contents } from "./Fingerprint.js"
import { digest } from "./Fingerprint.js"
import type { Row } from "./Row.js"

/** How this device's copy of a row differs from the peer's. */
export type Difference =
  "missing here" | "missing on the peer" | "newer on the peer" | "older on the peer" | "contents differ"

/** One row that differs, and for `contents differ`, which copy a repair keeps. */
export interface RowDifference {
  readonly uuid: string
  readonly difference: Difference
  /** Whether a repair takes the peer's copy (for `missing here` and `newer on the peer`: always). */
  readonly takePeers: boolean
}

/**
 * Whether a repair replaces our copy of a row with the peer's when both hold the same version with
 * different contents: yes when the peer owns the row, no when we own it, and otherwise when the peer's
 * contents digest is greater.
 */
export const takePeersCopy = (
  ours: Row,
  theirs: Row,
  devices: { readonly self: string; readonly peer: string },
  contents: Contents
): boolean => {
  if (theirs.owner !== null && theirs.owner === ours.owner) {
    if (theirs.owner === devices.peer) return true
    if (theirs.owner === devices.self) return false
  }
  return digest(contents.ofRow(theirs)) > digest(contents.ofRow(ours))
}

/** How our copy (`ours`, or undefined) differs from the peer's (`theirs`, or undefined), or null if not. */
export const compareRow = (
  ours: Row | undefined,
  theirs: Row | undefined,
  devices: { readonly self: string; readonly peer: string },
  contents: Contents
): RowDifference | null => {
  if (ours === undefined && theirs === undefined) return null
  if (ours === undefined) return { uuid: theirs!.uuid, difference: "missing here", takePeers: true }
  if (theirs === undefined) return { uuid: ours.uuid, difference: "missing on the peer", takePeers: false }
  if (theirs.version > ours.version)
    return { uuid: ours.uuid, difference: "newer on the peer", takePeers: true }
  if (theirs.version < ours.version)
    return { uuid: ours.uuid, difference: "older on the peer", takePeers: false }
  if (contents.ofRow(ours) === contents.ofRow(theirs)) return null
  return {
    uuid: ours.uuid,
    difference: "contents differ",
    takePeers: takePeersCopy(ours, theirs, devices, contents)
  }
}
