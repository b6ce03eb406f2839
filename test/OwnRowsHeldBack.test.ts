// A live pull holds back the asking peer's own rows (SyncServer.pull): a device's write that reached a peer is
// not sent back to it at once, but nothing is withheld for good. The answer comes with the first row of
// another device, or when the wait ends, and it holds every row from the cursor on (the peer's own included),
// so the peer's cursor never passes a row it was not sent. A pull without a wait, or by another device, is
// answered at once, as always.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, TestClock } from "effect"
import * as Hlc from "../src/domain/Hlc.js"
import type { DeviceId } from "../src/domain/Ids.js"
import { Pull, type Page } from "../src/domain/Protocol.js"
import type { Row } from "../src/domain/Row.js"
import { Library } from "../src/services/Library.js"
import type { PeerHandler } from "../src/services/PeerTransport.js"
import * as SyncServer from "../src/services/SyncServer.js"
import { deviceA, deviceB, deviceC, uuidN } from "./support/fixtures.js"
import * as Sim from "./support/sim.js"

const WAIT = 10_000

/** A location of `owner`, as A would have pulled it from that device. */
const locationOf = (owner: DeviceId, n: number): Row => ({
  uuid: uuidN(n),
  version: Hlc.toHlcString(Hlc.make(1_700_000_000_000 + n, 0, owner)),
  deleted: false,
  owner,
  fields: { volume: null, path: `/loc-${n}`, name: `loc-${n}` }
})

const pull = (handler: PeerHandler, peer: DeviceId, after: number, waitMillis: number) =>
  handler.handle(peer, new Pull({ resource: "location", after, limit: 100, waitMillis })) as Effect.Effect<
    Page,
    unknown
  >

/** Device A holding two locations of B; its server and a way to apply more rows to it. */
const setup = Effect.gen(function* () {
  const net = yield* Layer.build(Sim.networkLayer)
  const a = yield* Sim.device(net, deviceA)
  const apply = (rows: ReadonlyArray<Row>) =>
    Effect.provide(
      Effect.flatMap(Library, (l) => l.applyRemote("location", rows)),
      a
    )
  yield* apply([locationOf(deviceB, 1), locationOf(deviceB, 2)])
  const handler = yield* Effect.provide(SyncServer.makeHandler(), a)
  return { handler, apply }
})

const uuids = (page: Page) => page.rows.map((r) => r.uuid)

describe("a live pull and the asking peer's own rows", () => {
  it.scoped("are answered at once without a wait, and to another device", () =>
    Effect.gen(function* () {
      const { handler } = yield* setup
      const now = yield* pull(handler, deviceB, 0, 0)
      expect(uuids(now)).toEqual([uuidN(1), uuidN(2)])
      const other = yield* pull(handler, deviceC, 0, WAIT)
      expect(uuids(other)).toEqual([uuidN(1), uuidN(2)])
    })
  )

  it.scoped("are held back until another device's row comes, then sent with it from the cursor", () =>
    Effect.gen(function* () {
      const { handler, apply } = yield* setup
      const waiting = yield* Effect.fork(pull(handler, deviceB, 0, WAIT))
      // The pull read rows 1 and 2 and waits.
      yield* TestClock.adjust(1)
      expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)
      // More of B's own rows: still held back.
      yield* apply([locationOf(deviceB, 3)])
      yield* TestClock.adjust(WAIT / 2)
      expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)
      // C's row: the answer holds everything after the cursor, B's own rows included.
      yield* apply([locationOf(deviceC, 4)])
      const page = yield* Fiber.join(waiting)
      expect(uuids(page)).toEqual([uuidN(1), uuidN(2), uuidN(3), uuidN(4)])
      expect(page.caughtUp).toBe(true)
      // Nothing after the page's cursor: every row up to it was in the page.
      const rest = yield* pull(handler, deviceB, page.last, 0)
      expect(rest.rows).toEqual([])
    })
  )

  it.scoped("are sent when the wait ends", () =>
    Effect.gen(function* () {
      const { handler, apply } = yield* setup
      const waiting = yield* Effect.fork(pull(handler, deviceB, 0, WAIT))
      // The pull read rows 1 and 2 and waits.
      yield* TestClock.adjust(1)
      expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)
      yield* apply([locationOf(deviceB, 3)])
      yield* TestClock.adjust(WAIT)
      const page = yield* Fiber.join(waiting)
      expect(uuids(page)).toEqual([uuidN(1), uuidN(2), uuidN(3)])
      const rest = yield* pull(handler, deviceB, page.last, 0)
      expect(rest.rows).toEqual([])
    })
  )
})
