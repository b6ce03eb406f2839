// The memory transport's requests end when their link breaks: a request the peer is still answering (a live
// pull held open) fails at once as lost, and one sent on a broken link fails as cut, so a session never
// waits on a connection that is gone.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer } from "effect"
import { Pull } from "../src/domain/Protocol.js"
import { ResourceType } from "../src/domain/Resource.js"
import * as TransportMemory from "../src/layers/TransportMemory.js"
import * as Runtime from "../src/simulation/Runtime.js"
import { Credentials } from "../src/services/Credentials.js"
import { PeerTransport } from "../src/services/PeerTransport.js"
import { deviceA, deviceB, libraryId } from "./support/fixtures.js"

const transportOf = (deviceId: typeof deviceA) =>
  Effect.map(
    Layer.build(
      TransportMemory.layer.pipe(Layer.provide(Credentials.layer({ libraryId, deviceId, secret: "s" })))
    ),
    (context) => context.unsafeMap.get(PeerTransport.key) as PeerTransport["Type"]
  )

/** A peer that holds every request open and never answers. */
const neverAnswers = {
  handle: () => Effect.never,
  connected: () => Effect.void,
  disconnected: () => Effect.void
}

const pull = new Pull({ resource: ResourceType.make("note"), after: 0, limit: 10, waitMillis: 60_000 })

describe("TransportMemory", () => {
  it("a request the peer holds open fails as lost when the link breaks, and the next one as cut", async () => {
    const result = await Runtime.run(
      Effect.gen(function* () {
        const network = yield* TransportMemory.MemoryNetwork
        const server = yield* transportOf(deviceA)
        const client = yield* transportOf(deviceB)
        yield* server.listen("memory:a", neverAnswers)
        const conn = yield* client.connect("memory:a")
        const pending = yield* Effect.fork(Effect.flip(conn.send(pull)))
        yield* Effect.sleep(10)
        yield* network.cutAll
        const lost = yield* Fiber.join(pending)
        const next = yield* Effect.flip(conn.send(pull))
        return [lost, next].map((e) => `${e._tag}: ${"reason" in e ? e.reason : ""}`)
      }).pipe(Effect.scoped, Effect.provide(TransportMemory.layerNetwork), Effect.withTracerEnabled(false)),
      0
    )
    expect(result.exit).toEqual(
      Exit.succeed(["PeerUnavailable: connection lost", "PeerUnavailable: connection cut"])
    )
    // The break ended the wait at once, not the peer's 60 s.
    expect(result.endMillis).toBe(10)
  })
})
