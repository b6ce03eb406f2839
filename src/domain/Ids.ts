// Identifiers: lower-case canonical UUIDs, branded so a device id is never passed where a row id belongs.
import { Schema } from "effect"
import { randomUUID } from "node:crypto"

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** A UUID in its canonical lower-case form (so string order is stable across devices). */
export const Uuid = Schema.String.pipe(
  Schema.pattern(uuidPattern, { message: () => "expected a lower-case UUID" }),
  Schema.brand("Uuid")
)
export type Uuid = typeof Uuid.Type

export const DeviceId = Schema.String.pipe(
  Schema.pattern(uuidPattern, { message: () => "expected a lower-case device UUID" }),
  Schema.brand("DeviceId")
)
export type DeviceId = typeof DeviceId.Type

export const LibraryId = Schema.String.pipe(
  Schema.pattern(uuidPattern, { message: () => "expected a lower-case library UUID" }),
  Schema.brand("LibraryId")
)
export type LibraryId = typeof LibraryId.Type

export const isUuid = (s: string): boolean => uuidPattern.test(s)

/**
 * `isUuid` that remembers the last string it accepted: the rows of a page repeat the same owner, location or
 * parent row after row, and comparing two strings costs a fraction of matching the pattern. Each caller
 * keeps its own, so one column's values do not evict another's.
 */
export const uuidCheck = (): ((s: string) => boolean) => {
  let accepted: string | undefined
  return (s) => {
    if (s === accepted) return true
    if (!uuidPattern.test(s)) return false
    accepted = s
    return true
  }
}

/** New random ids. Not pure (randomness), so kept to these three constructors. */
export const newUuid = (): Uuid => Uuid.make(randomUUID())
export const newDeviceId = (): DeviceId => DeviceId.make(randomUUID())
export const newLibraryId = (): LibraryId => LibraryId.make(randomUUID())
