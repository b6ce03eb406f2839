import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Device from "../src/layers/Device.js"
import * as TransportTcp from "../src/layers/TransportTcp.js"
import { Credentials } from "../src/services/Credentials.js"
import { dumpLines } from "../src/services/Dump.js"
import { Library } from "../src/services/Library.js"
import { PeerTransport } from "../src/services/PeerTransport.js"
import { reconcile } from "../src/services/Reconcile.js"
import * as SyncServer from "../src/services/SyncServer.js"
import { deviceA, deviceB, entryFields, libraryId, uuidN } from "./support/fixtures.js"

const overTcp = (deviceId: typeof deviceA) =>
  Layer.build(
    Layer.merge(
      Device.layerMemory({ deviceId, libraryId }),
      TransportTcp.layer().pipe(
        Layer.provide(Credentials.layer({ libraryId, deviceId, secret: "a secret of the library" }))
      )
    )
  )

describe("reconciliation over TCP", () => {
  it.live("fingerprints and range pulls cross a real socket and leave both sides equal", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const a = yield* overTcp(deviceA)
        const b = yield* overTcp(deviceB)
        yield* Effect.provide(
          Effect.flatMap(Library, (l) =>
            l.write(
              "entry",
              Array.from({ length: 300 }, (_, i) => ({
                uuid: uuidN(i + 1),
                fields: entryFields(i, uuidN(9_999))
              }))
            )
          ),
          a
        )
        const handler = yield* Effect.provide(SyncServer.makeHandler(), a)
        const address = yield* Effect.provide(
          Effect.flatMap(PeerTransport, (t) => t.listen("127.0.0.1:0", handler)),
          a
        )
        const conn = yield* Effect.provide(
          Effect.flatMap(PeerTransport, (t) => t.connect(address)),
          b
        )
        const result = yield* Effect.provide(reconcile(conn, "entry", 100), b)
        expect(result.pulled).toBe(300)
        expect(yield* Effect.provide(dumpLines, b)).toEqual(yield* Effect.provide(dumpLines, a))
      })
    )
  )
})
