// A hub's peer connection counts, kept by several processes on one schema: each counts its own, and a process
// that is gone (its sessions closed, as SIGKILL closes them) no longer counts, without anyone resetting.
import { expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Schedule, Scope } from "effect"
import { FileLibraryCatalog } from "../src/domain/FileLibrary.js"
import { DeviceId } from "../src/domain/Ids.js"
import * as PeerStatusPg from "../src/layers/PeerStatusPg.js"
import * as Postgres from "../src/layers/Postgres.js"
import { SyncDb } from "../src/layers/Sqlite.js"
import { Kinds } from "../src/services/Kinds.js"
import type { PeerStatus } from "../src/services/PeerStatus.js"
import { describePostgres, freshSchema, serverForFile } from "./support/postgres.js"

const PEER = DeviceId.make("0c000000-0000-4000-8000-00000000000c")

describePostgres("a hub's peer connections", () => {
  const server = serverForFile()

  /** One process of the hub: its own pool on the schema, and its PeerStatus. */
  const process = (schema: string) =>
    Effect.gen(function* () {
      const context = yield* Layer.build(
        Postgres.layer({ url: server.url(), schema }).pipe(
          Layer.provide(Layer.succeed(Kinds, FileLibraryCatalog))
        )
      )
      return yield* PeerStatusPg.make.pipe(Effect.provideService(SyncDb, Context.get(context, SyncDb)))
    })

  const connections = (status: PeerStatus["Type"]) =>
    Effect.map(status.list, (peers) => peers.find((p) => p.peer === PEER)?.connections)

  it.scopedLive("count the connections of live processes only", () =>
    Effect.gen(function* () {
      const schema = freshSchema()
      const firstScope = yield* Scope.make()
      const first = yield* Scope.extend(process(schema), firstScope)
      const second = yield* process(schema)
      yield* first.connected(PEER, "memory:first")
      yield* second.connected(PEER, "memory:second")
      yield* second.connected(PEER, "memory:second")
      expect(yield* connections(first)).toBe(3)
      expect(yield* connections(second)).toBe(3)
      // The first process goes without a word (its pool closes, as a killed process's sessions do).
      yield* Scope.close(firstScope, Exit.void)
      // The server drops a closed session from its list within moments; wait for that, boundedly.
      const left = yield* connections(second).pipe(
        Effect.filterOrFail((n) => n === 2),
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("10 seconds"))),
        Effect.orElse(() => connections(second))
      )
      expect(left).toBe(2)
      yield* second.disconnected(PEER, "memory:second")
      expect(yield* connections(second)).toBe(1)
      // A process that starts later sees the same count and clears the gone process's row.
      const third = yield* process(schema)
      expect(yield* connections(third)).toBe(1)
    })
  )
})
