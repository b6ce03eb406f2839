import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Option, Scope } from "effect"
import { Exchange } from "../src/domain/Protocol.js"
import { Library } from "../src/services/Library.js"
import { PeerStatus } from "../src/services/PeerStatus.js"
import { PeerTransport } from "../src/services/PeerTransport.js"
import { SharedLog } from "../src/services/SharedLog.js"
import * as SyncServer from "../src/services/SyncServer.js"
import { WatermarkStore } from "../src/services/WatermarkStore.js"
import { deviceA, deviceB, deviceC, uuidN } from "./support/fixtures.js"
import * as Sim from "./support/sim.js"
import { tempDir } from "./support/tempDir.js"
import { copyFileSync, rmSync } from "node:fs"
import { join } from "node:path"

describe("peer state", () => {
  it("a peer listening on all interfaces is reached at the host it connected from", () => {
    expect(SyncServer.reachable("0.0.0.0:7470", "192.0.2.7")).toBe("192.0.2.7:7470")
    expect(SyncServer.reachable("127.0.0.1:7470", "192.0.2.7")).toBe("127.0.0.1:7470")
    expect(SyncServer.reachable("0.0.0.0:7470", undefined)).toBe("0.0.0.0:7470")
  })

  it.live("a device whose database was replaced is re-synced from its new one, and nothing is lost", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* Layer.build(Sim.networkLayer)
        const b = yield* Sim.device(net, deviceB)
        const write = (ctx: Sim.Ctx, n: number) =>
          Effect.provide(
            Effect.flatMap(Library, (l) =>
              l.write("location", [
                { uuid: uuidN(n), fields: { volume: null, path: `/${n}`, name: `l${n}` } }
              ])
            ),
            ctx
          )
        const firstRun = yield* Scope.make()
        const first = yield* Scope.extend(
          Layer.build(Sim.deviceLayer(deviceA).pipe(Layer.provide(Layer.succeedContext(net)))),
          firstRun
        )
        for (let n = 1; n <= 5; n++) yield* write(first, n)
        yield* Scope.extend(Sim.startEngine(first, "memory:a1", []), firstRun)
        yield* Sim.startEngine(b, "memory:b", ["memory:a1"])
        yield* Sim.converged([first, b], (l) => l.length === 5)
        const before = yield* Effect.provide(
          Effect.flatMap(WatermarkStore, (w) => w.peerStore(deviceA)),
          b
        )
        yield* Scope.close(firstRun, Exit.void)
        // A comes back with an empty, new database (restored from nothing) but the same identity.
        const second = yield* Sim.device(net, deviceA)
        yield* write(second, 100)
        yield* Sim.startEngine(second, "memory:a2", ["memory:b"])
        const lines = yield* Sim.converged([second, b], (l) => l.length === 6)
        expect(lines.join("\n")).toContain('"/100"')
        const rebased = yield* Effect.provide(
          Effect.flatMap(WatermarkStore, (w) => w.peerStore(deviceA)),
          b
        )
        expect(Option.isSome(before) && Option.isSome(rebased) && before.value !== rebased.value).toBe(true)
      })
    )
  )

  it.live("a session that fails leaves its reason as the peer's last error", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* Layer.build(Sim.networkLayer)
        const a = yield* Sim.device(net, deviceA)
        const ahead = yield* Sim.device(net, deviceC, { startMillis: 1_700_000_000_000 + 10 * 60_000 })
        yield* Effect.provide(
          Effect.flatMap(Library, (l) =>
            l.write("tag", [{ uuid: uuidN(1), fields: { name: "future", color: null } }])
          ),
          ahead
        )
        yield* Sim.startEngine(ahead, "memory:ahead", [])
        yield* Sim.startEngine(a, "memory:a", ["memory:ahead"])
        // Poll: the first session fails as soon as the first page is checked.
        const lastError = Effect.provide(
          Effect.map(
            Effect.flatMap(PeerStatus, (s) => s.list),
            (peers) => peers.find((p) => p.peer === deviceC)?.lastError ?? ""
          ),
          a
        )
        const seen = yield* Effect.gen(function* () {
          for (;;) {
            const error = yield* lastError
            if (error !== "") return error
            yield* Effect.sleep("20 millis")
          }
        }).pipe(Effect.timeout("20 seconds"))
        expect(seen).toContain("drift limit")
      })
    )
  )

  it.live("the exchange counts what is pending of a shared kind in the log, and acks follow the log", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const net = yield* Layer.build(Sim.networkLayer)
        const a = yield* Sim.device(net, deviceA)
        const b = yield* Sim.device(net, deviceB)
        yield* Effect.provide(
          Effect.flatMap(Library, (l) =>
            l.write(
              "tag",
              [1, 2, 3].map((n) => ({ uuid: uuidN(n), fields: { name: `t${n}`, color: null } }))
            )
          ),
          a
        )
        yield* Sim.startEngine(a, "memory:a", [])
        yield* Sim.startEngine(b, "memory:b", ["memory:a"])
        yield* Sim.converged([a, b], (l) => l.length === 3)
        yield* Effect.sleep("100 millis")
        const holds = yield* Effect.provide(
          Effect.flatMap(WatermarkStore, (w) =>
            Effect.map(w.list, (l) => l.filter((m) => m.peer === deviceA))
          ),
          b
        )
        const conn = yield* Effect.provide(
          Effect.flatMap(PeerTransport, (t) => t.connect("memory:a")),
          b
        )
        const state = yield* conn.send(
          new Exchange({
            holds: holds.map((h) => ({ resource: h.resource, seq: h.watermark })),
            listen: null
          })
        )
        expect(state.pending.filter((p) => p.count > 0)).toEqual([])
        const last = (yield* Effect.provide(
          Effect.flatMap(SharedLog, (log) => log.bounds),
          a
        )).last
        const ackOfB = Effect.provide(
          Effect.map(
            Effect.flatMap(SharedLog, (log) => log.acks),
            (acks) => acks.get(deviceB) ?? 0
          ),
          a
        )
        let acked = yield* ackOfB
        for (let i = 0; i < 500 && acked < last; i++) {
          yield* Effect.sleep("20 millis")
          acked = yield* ackOfB
        }
        expect(acked).toBe(last)
      })
    )
  )
})

/** Write location n on a device. */
const writeLocation = (ctx: Sim.Ctx, n: number) =>
  Effect.provide(
    Effect.flatMap(Library, (l) =>
      l.write("location", [{ uuid: uuidN(n), fields: { volume: null, path: `/${n}`, name: `l${n}` } }])
    ),
    ctx
  )

/** Run `use` on one process of device A over its data directory `dir`, closed when `use` ends. */
const sessionOfA =
  (net: Parameters<typeof Sim.deviceOnDisk>[0], dir: string) =>
  <A, E>(use: (a: Sim.Ctx) => Effect.Effect<A, E, Scope.Scope>) =>
    Effect.scoped(Effect.flatMap(Sim.deviceOnDisk(net, deviceA, dir), use))

describe("a peer restored from a backup", () => {
  it.live(
    "rows it writes after the restore reach its peers, although their seqs are below what they pulled",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const net = yield* Layer.build(Sim.networkLayer)
          const dir = yield* tempDir()
          const backup = yield* tempDir()
          // Both on disk, so both run on the real clock.
          const b = yield* Sim.deviceOnDisk(net, deviceB, yield* tempDir())
          const session = sessionOfA(net, dir)

          yield* session((a) => Effect.forEach([1, 2, 3], (n) => writeLocation(a, n)))
          copyFileSync(join(dir, "database.db"), join(backup, "database.db"))
          yield* session((a) =>
            Effect.gen(function* () {
              for (const n of [4, 5, 6, 7, 8]) yield* writeLocation(a, n)
              yield* Sim.startEngine(a, "memory:a", [])
              yield* Sim.startEngine(b, "memory:b", ["memory:a"])
              yield* Sim.converged([a, b], (l) => l.length === 8)
            })
          )
          // database.db comes back from the backup: same file id, seqs back at the third row.
          for (const f of ["database.db-wal", "database.db-shm"]) rmSync(join(dir, f), { force: true })
          copyFileSync(join(backup, "database.db"), join(dir, "database.db"))
          yield* session((a) =>
            Effect.gen(function* () {
              yield* writeLocation(a, 100)
              yield* Sim.startEngine(a, "memory:a", [])
              yield* Sim.converged([b], (l) => l.some((line) => line.includes('"/100"')))
            })
          )
        })
      )
  )

  it.live(
    "restored whole (both files) and written past its peers' positions again before they reconnect, it is still noticed and nothing is skipped",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const net = yield* Layer.build(Sim.networkLayer)
          const dir = yield* tempDir()
          const backup = yield* tempDir()
          const b = yield* Sim.deviceOnDisk(net, deviceB, yield* tempDir())
          const session = sessionOfA(net, dir)
          const files = ["database.db", "sync.db"]

          yield* session((a) => Effect.forEach([1, 2, 3], (n) => writeLocation(a, n)))
          // The supported backup: both files, taken together while the device is stopped.
          for (const f of files) copyFileSync(join(dir, f), join(backup, f))
          yield* session((a) =>
            Effect.gen(function* () {
              for (const n of [4, 5, 6, 7, 8]) yield* writeLocation(a, n)
              yield* Sim.startEngine(a, "memory:a", [])
              yield* Sim.startEngine(b, "memory:b", ["memory:a"])
              yield* Sim.converged([a, b], (l) => l.length === 8)
            })
          )
          for (const f of files) {
            for (const side of ["-wal", "-shm"]) rmSync(join(dir, f + side), { force: true })
            copyFileSync(join(backup, f), join(dir, f))
          }
          // Back at its third row, it writes ten more before B reconnects: its end is beyond B's position
          // again, but the rows between are new ones B never saw.
          yield* session((a) =>
            Effect.gen(function* () {
              for (let n = 100; n < 110; n++) yield* writeLocation(a, n)
              yield* Sim.startEngine(a, "memory:a", [])
              yield* Sim.startEngine(b, "memory:b2", ["memory:a"])
              // B still holds the five rows A lost, and gives them back.
              const lines = yield* Sim.converged([a, b], (l) => l.length === 18)
              for (let n = 100; n < 110; n++) expect(lines.join("\n")).toContain(`"/${n}"`)
            })
          )
        })
      )
  )
})

/** Write tag n (a shared kind: it goes through the shared log) on a device. */
const writeTag = (ctx: Sim.Ctx, n: number) =>
  Effect.provide(
    Effect.flatMap(Library, (l) =>
      l.write("tag", [{ uuid: uuidN(1000 + n), fields: { name: `t${n}`, color: null } }])
    ),
    ctx
  )

/** What B holds of A, and the opening of A it names: B's next session's Exchange, sent by hand. */
const exchangeOfB = (b: Sim.Ctx, address: string) =>
  Effect.gen(function* () {
    const marks = yield* Effect.provide(WatermarkStore, b)
    const holds = (yield* marks.list).filter((m) => m.peer === deviceA)
    const opening = Option.getOrUndefined(yield* marks.peerOpening!(deviceA))
    const conn = yield* Effect.provide(
      Effect.flatMap(PeerTransport, (t) => t.connect(address)),
      b
    )
    const state = yield* conn.send(
      new Exchange({
        holds: holds.map((h) => ({ resource: h.resource, seq: h.watermark })),
        listen: null,
        ...(opening === undefined ? {} : { opening })
      })
    )
    return { holds, opening, state }
  })

describe("a peer restored from a backup and restarted again", () => {
  const files = ["database.db", "sync.db"]
  const restore = (dir: string, backup: string) => {
    for (const f of files) {
      for (const side of ["-wal", "-shm"]) rmSync(join(dir, f + side), { force: true })
      copyFileSync(join(backup, f), join(dir, f))
    }
  }

  /**
   * A writes three rows and tags, its files are backed up, then five more reach B (and `afterwards` runs in
   * that session); B's engine stops with it. Returns A's directory, the backup, B and A's session opener.
   */
  const backedUpThenSynced = (
    afterwards: (a: Sim.Ctx, b: Sim.Ctx) => Effect.Effect<void, unknown> = () => Effect.void
  ) =>
    Effect.gen(function* () {
      const net = yield* Layer.build(Sim.networkLayer)
      const dir = yield* tempDir()
      const backup = yield* tempDir()
      const b = yield* Sim.deviceOnDisk(net, deviceB, yield* tempDir())
      const session = sessionOfA(net, dir)
      yield* session((a) =>
        Effect.forEach([1, 2, 3], (n) => Effect.zipRight(writeLocation(a, n), writeTag(a, n)))
      )
      for (const f of files) copyFileSync(join(dir, f), join(backup, f))
      yield* session((a) =>
        Effect.gen(function* () {
          for (const n of [4, 5, 6, 7, 8]) yield* Effect.zipRight(writeLocation(a, n), writeTag(a, n))
          yield* Sim.startEngine(a, "memory:a", [])
          yield* Sim.startEngine(b, "memory:b", ["memory:a"])
          yield* Sim.converged([a, b], (l) => l.length === 16)
          yield* afterwards(a, b)
        })
      )
      return { dir, backup, b, session }
    })

  it.live(
    "restored whole, written past its peer's positions, restarted twice before the peer reconnects: nothing is skipped",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const { dir, backup, b, session } = yield* backedUpThenSynced()
          restore(dir, backup)
          // The restored device writes ten rows and tags (their seqs are those B's positions point at) and
          // serves, then stops; it runs again, and stops; only in its third run does B reconnect.
          yield* session((a) =>
            Effect.gen(function* () {
              for (let n = 100; n < 110; n++) yield* Effect.zipRight(writeLocation(a, n), writeTag(a, n))
              yield* Sim.startEngine(a, "memory:a", [])
            })
          )
          yield* session((a) => Sim.startEngine(a, "memory:a", []))
          yield* session((a) =>
            Effect.gen(function* () {
              yield* Sim.startEngine(a, "memory:a", [])
              yield* Sim.startEngine(b, "memory:b2", ["memory:a"])
              // B still holds the five rows and tags A lost, and gives them back.
              const lines = yield* Sim.converged([a, b], (l) => l.length === 36, "10 seconds")
              for (let n = 100; n < 110; n++) {
                expect(lines.join("\n")).toContain(`"/${n}"`)
                expect(lines.join("\n")).toContain(`"t${n}"`)
              }
            })
          )
        })
      )
  )

  it.live("restarts without a restore do not make a peer reconcile; a restore does, restarted or not", () =>
    Effect.scoped(
      Effect.gen(function* () {
        // Rows written while it serves: their positions are above what it held when it opened.
        const { dir, backup, b, session } = yield* backedUpThenSynced((a, b) =>
          Effect.zipRight(
            Effect.zipRight(writeLocation(a, 50), writeTag(a, 50)),
            Effect.asVoid(Sim.converged([a, b], (l) => l.length === 18))
          )
        )
        // A restarts twice, writing in between while B is away (its first rows before it serves).
        yield* session((a) => Effect.zipRight(writeLocation(a, 9), Sim.startEngine(a, "memory:a", [])))
        yield* session((a) =>
          Effect.gen(function* () {
            yield* Sim.startEngine(a, "memory:a", [])
            const { holds, opening, state } = yield* exchangeOfB(b, "memory:a")
            expect(opening).toBeDefined()
            expect(holds.some((h) => h.watermark > 0)).toBe(true)
            expect(state.rewound).toBeUndefined()
            expect(state.opening).toBeDefined()
            expect(state.opening).not.toBe(opening)
            // And B's own session goes on from its positions: it only pulls row 9.
            yield* Sim.startEngine(b, "memory:b2", ["memory:a"])
            yield* Sim.converged([a, b], (l) => l.length === 19)
            const after = (yield* Effect.provide(
              Effect.flatMap(WatermarkStore, (w) => w.list),
              b
            )).filter((m) => m.peer === deviceA)
            for (const h of holds) {
              expect(after.find((m) => m.resource === h.resource)!.watermark).toBeGreaterThanOrEqual(
                h.watermark
              )
            }
          })
        )
        // The same positions against the restored files, restarted twice: told they are gone.
        restore(dir, backup)
        // It writes past B's positions again (so B's own end check cannot see it), and restarts.
        yield* session((a) =>
          Effect.zipRight(
            Effect.forEach([200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211], (n) =>
              Effect.zipRight(writeLocation(a, n), writeTag(a, n))
            ),
            Sim.startEngine(a, "memory:a", [])
          )
        )
        yield* session((a) =>
          Effect.gen(function* () {
            yield* Sim.startEngine(a, "memory:a", [])
            const { state } = yield* exchangeOfB(b, "memory:a")
            expect(state.rewound).toBe(true)
          })
        )
      })
    )
  )
})

describe("a peer that was shown a table's end beyond its position", () => {
  it.live(
    "names that end, and a file restored to before it answers rewound although every position is within it",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const net = yield* Layer.build(Sim.networkLayer)
          const dir = yield* tempDir()
          const backup = yield* tempDir()
          const b = yield* Sim.deviceOnDisk(net, deviceB, yield* tempDir())
          const session = sessionOfA(net, dir)
          // Each file with its write-ahead log: copied while nothing is being written, a consistent backup.
          const copies = ["database.db", "database.db-wal", "sync.db", "sync.db-wal"]
          yield* session((a) => Effect.forEach([1, 2, 3], (n) => writeLocation(a, n)))
          yield* session((a) =>
            Effect.gen(function* () {
              yield* Sim.startEngine(a, "memory:a", [])
              // Pages of two rows: a page cut short of the table's end shows B that end.
              yield* Sim.startEngine(b, "memory:b", ["memory:a"], { ...Sim.fastOptions, batchSize: 2 })
              yield* Sim.converged([a, b], (l) => l.length === 3)
              // Backed up while it serves, under the opening B now holds.
              for (const f of copies) copyFileSync(join(dir, f), join(backup, f))
              const rows = [4, 5, 6, 7, 8].map((n) => ({
                uuid: uuidN(n),
                fields: { volume: null, path: `/${n}`, name: `l${n}` }
              }))
              yield* Effect.provide(
                Effect.flatMap(Library, (l) => l.write("location", rows)),
                a
              )
              yield* Sim.converged([a, b], (l) => l.length === 8)
            })
          )
          const marks = yield* Effect.provide(WatermarkStore, b)
          const seen = yield* marks.peerSeen!(deviceA)
          expect(seen).toBe(8)
          const opening = Option.getOrThrow(yield* marks.peerOpening!(deviceA))
          for (const f of ["database.db-shm", "sync.db-shm"]) rmSync(join(dir, f), { force: true })
          for (const f of copies) copyFileSync(join(backup, f), join(dir, f))
          // Restored to its third row and serving again, A is asked by hand with no position held: only the
          // end B names is beyond what A's files vouched for under that opening.
          yield* session((a) =>
            Effect.gen(function* () {
              yield* Sim.startEngine(a, "memory:a", [])
              const conn = yield* Effect.provide(
                Effect.flatMap(PeerTransport, (t) => t.connect("memory:a")),
                b
              )
              const ask = (end: number) =>
                conn.send(new Exchange({ holds: [], listen: null, opening, seen: end }))
              expect((yield* ask(seen)).rewound).toBe(true)
              expect((yield* ask(3)).rewound).toBeUndefined()
            })
          )
        })
      )
  )
})
