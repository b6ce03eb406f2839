// A caught-up pull stream asks one page at a time with a wait, and a burst of rows is pulled in rounds that
// fetch ahead (PullStream.pullTable). Seen from the network: B's requests for A's locations, each with the
// watermark B had committed when it asked.
import { describe, expect, it } from "@effect/vitest"
import { type Context, Effect, Layer } from "effect"
import * as TransportMemory from "../src/layers/TransportMemory.js"
import { Library } from "../src/services/Library.js"
import { LibraryStore } from "../src/services/LibraryStore.js"
import { WatermarkStore } from "../src/services/WatermarkStore.js"
import { deviceA, deviceB, uuidN } from "./support/fixtures.js"
import * as Sim from "./support/sim.js"

const run = <A, E>(ctx: Sim.Ctx, effect: Effect.Effect<A, E, Sim.DeviceContext>) =>
  Effect.provide(effect, ctx)

const writeLocations = (ctx: Sim.Ctx, from: number, count: number) =>
  run(
    ctx,
    Effect.flatMap(Library, (l) =>
      l.write(
        "location",
        Array.from({ length: count }, (_, i) => ({
          uuid: uuidN(from + i),
          fields: { volume: null, path: `/loc-${from + i}`, name: `loc-${from + i}` }
        }))
      )
    )
  )

const locations = (ctx: Sim.Ctx) =>
  run(
    ctx,
    Effect.flatMap(LibraryStore, (s) => s.countAfter("location", 0))
  )
const lastSeq = (ctx: Sim.Ctx) =>
  run(
    ctx,
    Effect.flatMap(LibraryStore, (s) => s.lastSeq("location"))
  )

const waitUntil = (what: string, condition: Effect.Effect<boolean, unknown>) =>
  Effect.gen(function* () {
    while (!(yield* condition)) yield* Effect.sleep("5 millis")
  }).pipe(
    Effect.timeoutFail({
      duration: "30 seconds",
      onTimeout: () => new Error(`timed out waiting for ${what}`)
    })
  )

interface Asked {
  readonly after: number
  readonly wait: boolean
  /** B's committed watermark for A's locations when the request left. */
  readonly held: number
}

/** Record B's requests for A's locations from now on. */
const record = (net: Context.Context<TransportMemory.MemoryNetwork>, b: Sim.Ctx) =>
  Effect.gen(function* () {
    const asked: Array<Asked> = []
    yield* Effect.provide(
      Effect.flatMap(TransportMemory.MemoryNetwork, (network) =>
        network.intercept((request, from) =>
          from === deviceB && request._tag === "Pull" && request.resource === "location"
            ? Effect.map(
                run(
                  b,
                  Effect.flatMap(WatermarkStore, (w) => w.get(deviceA, "location"))
                ).pipe(Effect.orDie),
                (held) => {
                  asked.push({ after: request.after, wait: request.waitMillis > 0, held })
                }
              )
            : Effect.void
        )
      ),
      net
    )
    return asked
  })

describe("a caught-up pull stream", () => {
  it.live(
    "asks with a wait from the page it committed, one new row at a time; a burst comes in rounds that ask at once",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const net = yield* Layer.build(Sim.networkLayer)
          const a = yield* Sim.device(net, deviceA)
          const b = yield* Sim.device(net, deviceB)
          yield* writeLocations(a, 1, 1)
          yield* Sim.startEngine(a, "memory:a", [])
          yield* Sim.startEngine(b, "memory:b", ["memory:a"])
          yield* waitUntil(
            "the first location",
            Effect.map(locations(b), (n) => n === 1)
          )
          const asked = yield* record(net, b)
          const waitsFrom = (after: number) =>
            Effect.sync(() => asked.some((r) => r.wait && r.after === after))

          // Single rows, each written once B waits for it: each arrives as one page of a live request, and B
          // asks again with a wait from that page's end once it is committed.
          for (let i = 0; i < 3; i++) {
            yield* waitUntil("a live request", waitsFrom(yield* lastSeq(a)))
            yield* writeLocations(a, 10 + i, 1)
          }
          const beforeBurst = yield* lastSeq(a)
          yield* waitUntil("a live request", waitsFrom(beforeBurst))
          // A burst of 220 rows in pages of 50: a live page that is not caught up, then a round. (A's seqs are
          // consecutive within the burst's transaction; rows A pulled from B may have taken some before it.)
          yield* writeLocations(a, 100, 220)
          const end = yield* lastSeq(a)
          yield* waitUntil("a live request after the burst", waitsFrom(end))

          const live = asked.filter((r) => r.wait)
          expect(live.length).toBeGreaterThanOrEqual(5)
          // Every live request leaves from B's committed position: nothing fetched ahead of a commit.
          for (const r of live) expect(r.after).toBe(r.held)
          // After the live page that brought the first 50 rows of the burst: asked at once (a round, pages
          // fetched ahead) until caught up, then live again.
          const afterBurst = asked
            .filter((r) => r.after > beforeBurst)
            .map((r) => `${r.wait ? "wait" : "now"} ${r.after - (end - 220)}`)
          expect([...new Set(afterBurst)]).toEqual(["now 50", "now 100", "now 150", "now 200", "wait 220"])
          // In the round, each page is asked for while the one before it is applied (one page ahead of what B
          // committed), never two: the next request leaves only once the page before it is taken.
          const ahead = asked.filter((r) => !r.wait && r.after > beforeBurst).map((r) => r.after - r.held)
          expect(ahead).toContain(50)
          for (const n of ahead) expect([0, 50]).toContain(n)
          expect(yield* Sim.dump(b)).toEqual(yield* Sim.dump(a))
        })
      ),
    { timeout: 60_000 }
  )
})
