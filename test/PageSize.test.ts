// Pages are bounded by size as well as by rows: whatever the rows' text, a page the server answers fits in a
// frame, a row too large for any page is refused when it is written, and every row still arrives.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { FULL_RANGE } from "../src/domain/Fingerprint.js"
import { Uuid } from "../src/domain/Ids.js"
import {
  MAX_FRAME_BYTES,
  MAX_PAGE_SIZE,
  Pull,
  PullLog,
  PullRange,
  type PeerRequest
} from "../src/domain/Protocol.js"
import { validateRow } from "../src/domain/Catalog.js"
import { FileLibraryCatalog } from "../src/domain/FileLibrary.js"
import { approximateSize, MAX_ROW_SIZE, rowSize, rowsWithin, type Row } from "../src/domain/Row.js"
import { makeFramedMsgPack } from "../src/layers/TcpFraming.js"
import { Library } from "../src/services/Library.js"
import { LibraryStore } from "../src/services/LibraryStore.js"
import type { PeerHandler } from "../src/services/PeerTransport.js"
import * as SyncServer from "../src/services/SyncServer.js"
import { deviceA, deviceB, uuidN } from "./support/fixtures.js"
import * as Sim from "./support/sim.js"

const location = uuidN(900_000)
const longName = (n: number, length: number) => `${n}-`.padEnd(length, "x")

/** A with one location, `entries` entries with names of `nameLength` characters and as many such tags. */
const sourceWith = (entries: number, nameLength: number) =>
  Effect.gen(function* () {
    const net = yield* Layer.build(Sim.networkLayer)
    const a = yield* Sim.device(net, deviceA)
    yield* Effect.gen(function* () {
      const library = yield* Library
      yield* library.write("location", [{ uuid: location, fields: { volume: null, path: "/p", name: "p" } }])
      yield* library.write(
        "entry",
        Array.from({ length: entries }, (_, n) => ({
          uuid: uuidN(n + 1),
          fields: {
            location,
            parent: null,
            name: longName(n, nameLength),
            kind: "file",
            size: n,
            modified_at: n,
            content_hash: null
          }
        }))
      )
      yield* library.write(
        "tag",
        Array.from({ length: entries }, (_, n) => ({
          uuid: uuidN(500_000 + n),
          fields: { name: longName(n, nameLength), color: null }
        }))
      )
    }).pipe(Effect.provide(a))
    return { net, a }
  })

const answer = <R extends PeerRequest>(handler: PeerHandler, request: R) =>
  handler.handle(deviceB, request) as Effect.Effect<any, unknown>

describe("page size", () => {
  it.scoped("Pull, PullLog and PullRange end a page early rather than pass the size budget", () =>
    Effect.gen(function* () {
      const { a } = yield* sourceWith(300, 1_000)
      const maxPageSize = 20_000
      const handler = yield* SyncServer.makeHandler({ logRetention: 1_000, maxPageSize }).pipe(
        Effect.provide(a)
      )
      const fits = (rows: ReadonlyArray<Row>) => {
        expect(rows.length).toBeGreaterThan(1)
        expect(approximateSize(rows)).toBeLessThanOrEqual(maxPageSize)
      }

      // Pull: every page within the budget, the cursor at its last row, and all 300 rows in the end.
      const uuids = new Set<string>()
      let after = 0
      let pages = 0
      for (;;) {
        const page = yield* answer(
          handler,
          new Pull({ resource: "entry", after, limit: 1_000, waitMillis: 0 })
        )
        if (page.rows.length === 0) break
        fits(page.rows)
        for (const r of page.rows as ReadonlyArray<Row>) uuids.add(r.uuid)
        pages += 1
        expect(page.caughtUp).toBe(uuids.size === 300)
        after = page.last
      }
      expect(uuids.size).toBe(300)
      expect(pages).toBeGreaterThanOrEqual(Math.ceil((300 * 1_000) / maxPageSize))

      // PullLog: a cut page ends at its last entry, so the next one goes on from there.
      const tags = new Set<string>()
      let logAfter = 0
      for (let caughtUp = false; !caughtUp;) {
        const page = yield* answer(
          handler,
          new PullLog({ resource: "tag", after: logAfter, limit: 1_000, waitMillis: 0 })
        )
        fits(page.rows)
        for (const r of page.rows as ReadonlyArray<Row>) tags.add(r.uuid)
        logAfter = page.last
        caughtUp = page.caughtUp
      }
      expect(tags.size).toBe(300)

      // PullRange: a cut page is not done, and the next one goes on after its last uuid.
      const ranged = new Set<string>()
      let afterUuid = ""
      for (;;) {
        const page = yield* answer(
          handler,
          new PullRange({ resource: "entry", range: FULL_RANGE, afterUuid, limit: 1_000 })
        )
        fits(page.rows)
        for (const r of page.rows as ReadonlyArray<Row>) ranged.add(r.uuid)
        if (page.done) break
        afterUuid = page.rows.at(-1).uuid
      }
      expect(ranged.size).toBe(300)
    })
  )

  it.scoped("a row larger than the budget still travels, alone", () =>
    Effect.gen(function* () {
      const net = yield* Layer.build(Sim.networkLayer)
      const a = yield* Sim.device(net, deviceA)
      yield* Effect.flatMap(Library, (library) =>
        library.write("location", [
          { uuid: uuidN(1), fields: { volume: null, path: "/".repeat(50_000), name: "big" } },
          { uuid: uuidN(2), fields: { volume: null, path: "/small", name: "small" } }
        ])
      ).pipe(Effect.provide(a))
      const handler = yield* SyncServer.makeHandler({ logRetention: 1_000, maxPageSize: 10_000 }).pipe(
        Effect.provide(a)
      )
      const first = yield* answer(
        handler,
        new Pull({ resource: "location", after: 0, limit: 10, waitMillis: 0 })
      )
      expect(first.rows.map((r: Row) => r.fields.name)).toEqual(["big"])
      expect(first.caughtUp).toBe(false)
      const second = yield* answer(
        handler,
        new Pull({ resource: "location", after: first.last, limit: 10, waitMillis: 0 })
      )
      expect(second.rows.map((r: Row) => r.fields.name)).toEqual(["small"])
      expect(second.caughtUp).toBe(true)
    })
  )

  it.live("a backfill through size-bounded pages delivers every row", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { net, a } = yield* sourceWith(500, 2_000)
        const b = yield* Sim.device(net, deviceB)
        yield* Sim.startEngine(a, "memory:a", [], {
          ...Sim.fastOptions,
          server: { logRetention: 10_000, maxPageSize: 30_000 }
        })
        yield* Sim.startEngine(b, "memory:b", ["memory:a"], { ...Sim.fastOptions, batchSize: 1_000 })
        yield* Sim.converged([a, b], (lines) => lines.length >= 1_001)
        const held = yield* Effect.flatMap(LibraryStore, (s) => s.countAfter("entry", 0)).pipe(
          Effect.provide(b)
        )
        expect(held).toBe(500)
      })
    )
  )

  it("a page at the size budget fits in a frame even in 3-byte characters; without the budget it would not", () => {
    const rows: Array<Row> = Array.from({ length: 3_000 }, (_, n) => ({
      uuid: uuidN(n + 1),
      version: `000000000001.0000.${deviceA}` as Row["version"],
      deleted: false,
      owner: deviceA,
      fields: {
        location,
        parent: null,
        name: "€".repeat(4_096),
        kind: "file",
        size: n,
        modified_at: n,
        content_hash: null
      }
    }))
    const encode = (page: ReadonlyArray<Row>) =>
      makeFramedMsgPack(Number.MAX_SAFE_INTEGER)
        .unsafeMake()
        .encode({
          _tag: "Exit",
          requestId: "1",
          exit: { _tag: "Success", value: { rows: page } }
        }) as Uint8Array
    const kept = rowsWithin(rows, MAX_PAGE_SIZE)
    expect(kept).toBeLessThan(rows.length)
    expect(encode(rows.slice(0, kept)).length).toBeLessThan(MAX_FRAME_BYTES)
    expect(encode(rows).length).toBeGreaterThan(MAX_FRAME_BYTES)
  })

  it.effect("a row whose fields pass the row size limit is refused, written here or received", () =>
    Effect.gen(function* () {
      const huge = { volume: null, path: "/".repeat(MAX_ROW_SIZE), name: "huge" }
      const written = yield* Effect.exit(
        Effect.flatMap(LibraryStore, (store) =>
          store.writeLocal("location", [{ uuid: uuidN(1), fields: huge }])
        )
      )
      expect(Exit.isFailure(written) && String(written.cause)).toContain("more than the limit")
      expect(yield* Effect.flatMap(LibraryStore, (s) => s.countAfter("location", 0))).toBe(0)
      const received: Row = {
        uuid: Uuid.make(uuidN(2)),
        version: `000000000001.0000.${deviceA}` as Row["version"],
        deleted: false,
        owner: deviceA,
        fields: huge
      }
      expect(rowSize(received)).toBeGreaterThan(MAX_ROW_SIZE)
      expect(validateRow(FileLibraryCatalog.kind("location"), received)._tag).toBe("Left")
    }).pipe(Effect.provide(Sim.deviceLayer(deviceA).pipe(Layer.provide(Sim.networkLayer))))
  )
})
