// Reconnecting to a peer (SyncEngine.syncWith): the wait doubles from the base up to the cap while sessions
// keep failing soon after they begin, however long that goes on, and starts over after a session that stayed up.
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Layer, LogLevel, Logger, TestClock } from "effect"
import * as BackfillCoordinator from "../src/services/BackfillCoordinator.js"
import { PeerTransport, PeerUnavailable } from "../src/services/PeerTransport.js"
import * as SyncEngine from "../src/services/SyncEngine.js"
import { deviceA } from "./support/fixtures.js"
import * as Sim from "./support/sim.js"

const options = { ...Sim.fastOptions, reconnectBaseMillis: 10, reconnectCapMillis: 100 }

/**
 * Sync with a peer whose every session fails, `lasting(n)` ms after the n-th began, for `millis` of test
 * time; returns when each session began.
 */
const attemptsOver = (millis: number, lasting: (n: number) => number) =>
  Effect.gen(function* () {
    const net = yield* Layer.build(Sim.networkLayer)
    const a = yield* Sim.device(net, deviceA)
    const began: Array<number> = []
    const failing = PeerTransport.of({
      listen: (address) => Effect.succeed(address),
      connect: (address) =>
        Effect.gen(function* () {
          began.push(yield* Clock.currentTimeMillis)
          yield* Effect.sleep(lasting(began.length))
          return yield* new PeerUnavailable({ address, reason: "connection refused" })
        })
    })
    yield* SyncEngine.syncWith("memory:gone", options).pipe(
      Effect.provideService(PeerTransport, failing),
      Effect.provide(BackfillCoordinator.layer(0)),
      Effect.provide(a),
      Logger.withMinimumLogLevel(LogLevel.None),
      Effect.forkScoped
    )
    for (let t = 0; t < millis; t += 10) yield* TestClock.adjust("10 millis")
    return began
  })

describe("reconnecting to a peer", () => {
  it.scoped("a peer that stays away is retried about once per cap, not in bursts", () =>
    Effect.gen(function* () {
      const began = yield* attemptsOver(2_000, () => 0)
      // Waits of 10, 20, 40 and 80 ms, then 100 ms each (±20 %): about 22 attempts in 2 s. A backoff that
      // starts over while the peer stays away (every 200 ms, as a reset by elapsed time did) makes about 40.
      expect(began.length).toBeGreaterThanOrEqual(18)
      expect(began.length).toBeLessThanOrEqual(28)
      const gaps = began.slice(1).map((t, i) => t - began[i]!)
      expect(gaps.slice(6).every((gap) => gap >= 80 && gap <= 130)).toBe(true)
    })
  )

  it.scoped("after a session that stayed up as long as the cap, the wait starts over from the base", () =>
    Effect.gen(function* () {
      // Sessions 1-8 fail at once (the wait reaches the cap); session 9 stays up 150 ms, then fails.
      const began = yield* attemptsOver(2_000, (n) => (n === 9 ? 150 : 0))
      expect(began[8]! - began[7]!).toBeGreaterThanOrEqual(80)
      // Session 10 begins a base wait (10 ms ±20 %, on a 10 ms clock step: at most 20) after 9 ended.
      expect(began[9]! - (began[8]! + 150)).toBeLessThanOrEqual(20)
    })
  )
})
