// Races between a shared kind's log and the peers following it, each of which lost a change for good:
// - a pull of the log that another peer's acknowledgement prunes under it: the entries it would have
//   returned are gone, so it must answer `pruned` (the puller then transfers state again) rather than a page
//   that moves its cursor over them;
// - a state transfer that reads the table while a change is logged but not yet applied to it: the log it
//   follows afterwards must start below that change;
// - a peer in session that has not acknowledged anything yet: another peer's ack must not prune the entries
//   it has not seen.
import { expect, it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer } from "effect"
import { Ack, Exchange, PullLog, type PeerRequest } from "../src/domain/Protocol.js"
import type { ResourceType } from "../src/domain/Resource.js"
import { ChangeFeed } from "../src/services/ChangeFeed.js"
import { LibraryStore } from "../src/services/LibraryStore.js"
import type { PeerHandler } from "../src/services/PeerTransport.js"
import { SharedLog } from "../src/services/SharedLog.js"
import * as SyncServer from "../src/services/SyncServer.js"
import { deviceA, deviceB, deviceC, tagRow, uuidN } from "./support/fixtures.js"
import * as Sim from "./support/sim.js"

const tag = "tag" as ResourceType

const answer = <R extends PeerRequest>(handler: PeerHandler, peer: typeof deviceB, request: R) =>
  handler.handle(peer, request) as Effect.Effect<any, unknown>

it.scoped(
  "a log pull that waits while another peer's ack prunes entries it has not seen answers pruned",
  () =>
    Effect.gen(function* () {
      const net = yield* Layer.build(Sim.networkLayer)
      const a = yield* Sim.device(net, deviceA)
      const log = Context.get(a, SharedLog)
      // Tell the test when the pull's first read of the log is done (it then waits for the next commit).
      const firstRead = yield* Deferred.make<void>()
      const watched = SharedLog.of({
        ...log,
        readResource: (resource, after, limit) =>
          Effect.tap(log.readResource(resource, after, limit), () => Deferred.succeed(firstRead, undefined))
      })
      const handler = yield* SyncServer.makeHandler({ logRetention: 1_000 }).pipe(
        Effect.provide(Context.add(a, SharedLog, watched))
      )

      // B, which has never acknowledged anything, asks for tag changes after 0 and waits: the log is empty.
      const pull = yield* Effect.fork(
        answer(handler, deviceB, new PullLog({ resource: tag, after: 0, limit: 100, waitMillis: 60_000 }))
      )
      yield* Deferred.await(firstRead)
      // Meanwhile (as another process of a hub would, without waking this one) a change is logged and applied;
      // C pulls it and acknowledges it, and that prunes it: C is the only peer that ever acknowledged.
      const first = yield* log.append([{ resource: tag, row: tagRow(uuidN(1), "first", 1_000, 0, deviceC) }])
      yield* log.markApplied(first)
      yield* answer(handler, deviceC, new Ack({ seq: first[0]! }))
      expect((yield* log.bounds).prunedThrough).toBe(first[0]!)
      // A second change is logged, and its commit wakes B's pull.
      const second = yield* log.append([
        { resource: tag, row: tagRow(uuidN(2), "second", 1_001, 0, deviceC) }
      ])
      yield* log.markApplied(second)
      yield* Effect.flatMap(ChangeFeed, (feed) => feed.publish([tag])).pipe(Effect.provide(a))

      // B's page may not move its cursor past the pruned change as if it had seen it: it says pruned.
      const page = yield* Fiber.join(pull)
      expect(page).toMatchObject({ pruned: true, rows: [], last: 0 })
    })
)

it.live("a state transfer that reads the table between a change's log entry and its row still gets it", () =>
  Effect.scoped(
    Effect.gen(function* () {
      const net = yield* Layer.build(Sim.networkLayer)
      const a = yield* Sim.device(net, deviceA)
      const b = yield* Sim.device(net, deviceB)
      const log = Context.get(a, SharedLog)
      const change = tagRow(uuidN(1), "logged, then applied", 1_000, 0, deviceA)
      // A is in the middle of a shared write: the entry is in its log, the row not yet in its table.
      const seqs = yield* log.append([{ resource: tag, row: change }])
      // B's first read of A's log comes after its transfer of A's table state, which found no tag.
      const firstRead = yield* Deferred.make<void>()
      const watched = SharedLog.of({
        ...log,
        readResource: (resource, after, limit) =>
          Effect.tap(log.readResource(resource, after, limit), () =>
            resource === tag ? Deferred.succeed(firstRead, undefined) : Effect.void
          )
      })
      yield* Sim.startEngine(Context.add(a, SharedLog, watched), "memory:a", [])
      yield* Sim.startEngine(b, "memory:b", ["memory:a"])
      yield* Deferred.await(firstRead)
      // A's write goes on: the row is applied, the entry marked applied, waiting pulls woken.
      yield* Context.get(a, LibraryStore).apply(tag, [change])
      yield* log.markApplied(seqs)
      yield* Context.get(a, ChangeFeed).publish([tag])
      const dump = yield* Sim.converged([a, b], (lines) => lines.some((l) => l.includes(change.uuid)))
      expect(dump.filter((l) => l.includes(change.uuid))).toHaveLength(1)
    })
  )
)

it.scoped(
  "a peer in session that has not acknowledged yet keeps its part of the log from another peer's ack",
  () =>
    Effect.gen(function* () {
      const net = yield* Layer.build(Sim.networkLayer)
      const a = yield* Sim.device(net, deviceA)
      const log = Context.get(a, SharedLog)
      const handler = yield* SyncServer.makeHandler({ logRetention: 1_000 }).pipe(Effect.provide(a))
      // B starts a session holding the tag log up to 0; it has never acknowledged anything.
      yield* answer(handler, deviceB, new Exchange({ holds: [{ resource: tag, seq: 0 }], listen: null }))
      const seqs = yield* log.append([
        { resource: tag, row: tagRow(uuidN(1), "first", 1_000, 0, deviceC) },
        { resource: tag, row: tagRow(uuidN(2), "second", 1_001, 0, deviceC) }
      ])
      yield* log.markApplied(seqs)
      // C has both and acknowledges them: B has neither, so nothing may go.
      yield* answer(handler, deviceC, new Ack({ seq: seqs[1]! }))
      expect((yield* log.bounds).prunedThrough).toBe(0)
      const page = yield* answer(
        handler,
        deviceB,
        new PullLog({ resource: tag, after: 0, limit: 100, waitMillis: 0 })
      )
      expect(page).toMatchObject({ pruned: false, last: seqs[1]! })
      expect(page.rows.map((r: { uuid: string }) => r.uuid)).toEqual([uuidN(1), uuidN(2)])
      // Once B acknowledges them too, they are pruned.
      yield* answer(handler, deviceB, new Ack({ seq: seqs[1]! }))
      expect((yield* log.bounds).prunedThrough).toBe(seqs[1]!)
    })
)
