// Which copy verify's repair keeps when two devices hold one version of a row with different contents: the
// owner's for a device-owned row one of them owns, otherwise the greater contents digest — the same choice
// whichever of the two decides.
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { compareRow, takePeersCopy } from "../src/domain/Divergence.js"
import { FileLibraryCatalog } from "../src/domain/FileLibrary.js"
import * as Fingerprint from "../src/domain/Fingerprint.js"
import * as Hlc from "../src/domain/Hlc.js"
import type { DeviceId } from "../src/domain/Ids.js"
import type { Row } from "../src/domain/Row.js"
import { deviceA, deviceB, deviceC, tagRow, uuidN } from "./support/fixtures.js"

const tags = Fingerprint.contents(FileLibraryCatalog.kind("tag").columns)
const deviceContents = Fingerprint.contents(FileLibraryCatalog.kind("device").columns)
const deviceRow = (owner: DeviceId, name: string): Row => ({
  uuid: uuidN(1),
  version: Hlc.toHlcString(Hlc.make(1, 0, owner)),
  deleted: false,
  owner,
  fields: { name, address: null }
})

describe("the copy a repair keeps", () => {
  it("a device-owned row: the owner's copy, whichever side verifies", () => {
    const [atA, atB] = [deviceRow(deviceA, "a"), deviceRow(deviceA, "edited")]
    // B verifies against A (the owner): takes A's. A verifies against B: keeps its own.
    expect(takePeersCopy(atB, atA, { self: deviceB, peer: deviceA }, deviceContents)).toBe(true)
    expect(takePeersCopy(atA, atB, { self: deviceA, peer: deviceB }, deviceContents)).toBe(false)
  })

  it.prop(
    "a shared row, or one neither owns: both sides choose the same copy",
    [fc.string(), fc.string(), fc.boolean()],
    ([x, y, owned]) => {
      fc.pre(x !== y)
      const row = (name: string): Row =>
        owned ? deviceRow(deviceC, name) : tagRow(uuidN(1), name, 1, 0, deviceC)
      const contents = owned ? deviceContents : tags
      const atA = row(x)
      const atB = row(y)
      const aTakes = takePeersCopy(atA, atB, { self: deviceA, peer: deviceB }, contents)
      const bTakes = takePeersCopy(atB, atA, { self: deviceB, peer: deviceA }, contents)
      // Exactly one of them takes the other's copy: both end with the same one.
      expect(aTakes).not.toBe(bTakes)
      expect(aTakes).toBe(Fingerprint.digest(contents.ofRow(atB)) > Fingerprint.digest(contents.ofRow(atA)))
    }
  )

  it("how two copies differ", () => {
    const devices = { self: deviceA, peer: deviceB }
    const v1 = tagRow(uuidN(1), "red", 1, 0, deviceC)
    const v2 = tagRow(uuidN(1), "red", 2, 0, deviceC)
    expect(compareRow(undefined, v1, devices, tags)?.difference).toBe("missing here")
    expect(compareRow(v1, undefined, devices, tags)?.difference).toBe("missing on the peer")
    expect(compareRow(v1, v2, devices, tags)).toMatchObject({
      difference: "newer on the peer",
      takePeers: true
    })
    expect(compareRow(v2, v1, devices, tags)).toMatchObject({
      difference: "older on the peer",
      takePeers: false
    })
    expect(compareRow(v1, { ...v1 }, devices, tags)).toBeNull()
    expect(compareRow(v1, { ...v1, deleted: true }, devices, tags)?.difference).toBe("contents differ")
  })
})
