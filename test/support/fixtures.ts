// Shared test helpers: device identities, row builders and arbitraries.
import { FastCheck as fc } from "effect"
import { DeviceId, LibraryId, Uuid } from "../../src/domain/Ids.js"
import * as Hlc from "../../src/domain/Hlc.js"
import type { Row } from "../../src/domain/Row.js"

export const deviceA = DeviceId.make("aaaaaaaa-0000-4000-8000-000000000001")
export const deviceB = DeviceId.make("bbbbbbbb-0000-4000-8000-000000000002")
export const deviceC = DeviceId.make("cccccccc-0000-4000-8000-000000000003")
export const libraryId = LibraryId.make("11111111-0000-4000-8000-000000000000")

export const uuidN = (n: number): Uuid =>
  Uuid.make(`00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`)

export const tagRow = (
  uuid: Uuid,
  name: string,
  wall: number,
  counter: number,
  device: DeviceId,
  deleted = false
): Row => ({
  uuid,
  version: Hlc.toHlcString(Hlc.make(wall, counter, device)),
  deleted,
  owner: null,
  fields: { name, color: null }
})

export const entryFields = (n: number, location: Uuid) => ({
  location,
  parent: null,
  name: `file-${n}.txt`,
  kind: "file" as const,
  size: n * 10,
  modified_at: 1_700_000_000_000 + n,
  content_hash: null
})

/**
 * Versions of a few tag rows written by a few devices: the input of apply-order properties. A clock never
 * issues one timestamp twice, so the content of a version is a function of it (uuid, wall, counter, device).
 */
export const tagVersionsArb = fc
  .array(
    fc.record({
      uuid: fc.integer({ min: 1, max: 5 }),
      wall: fc.integer({ min: 1, max: 20 }),
      counter: fc.integer({ min: 0, max: 3 }),
      device: fc.constantFrom(deviceA, deviceB, deviceC)
    }),
    { minLength: 1, maxLength: 30 }
  )
  .map((vs) =>
    vs.map((v) =>
      tagRow(
        uuidN(v.uuid),
        `tag-${v.uuid}-${v.wall}-${v.counter}-${v.device.slice(0, 1)}`,
        v.wall,
        v.counter,
        v.device,
        (v.wall + v.counter) % 3 === 0
      )
    )
  )
