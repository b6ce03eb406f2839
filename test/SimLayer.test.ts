// The simulator builds each device's Layers with a builder of its own (SimLayer.ts), one Layer after another:
// it must give what Effect's Layer.build gives — every Layer built once however often it is used, each Layer
// in the context its provider gives, resources released when the scope closes — and a simulated device's
// whole graph must come out with the same services.
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as Runtime from "../src/simulation/Runtime.js"
import * as SimLayer from "../src/simulation/SimLayer.js"
import { deviceLayer } from "./support/sim.js"
import { deviceA } from "./support/fixtures.js"
import * as TransportMemory from "../src/layers/TransportMemory.js"

class Counter extends Context.Tag("test/Counter")<Counter, { readonly n: number }>() {}
class Doubled extends Context.Tag("test/Doubled")<Doubled, { readonly n: number }>() {}
class Tripled extends Context.Tag("test/Tripled")<Tripled, { readonly n: number }>() {}

/** A graph where one Layer (Counter) is used by two others and merged in again, with a finalizer. */
const graph = (log: Array<string>) => {
  let built = 0
  const counter = Layer.scoped(
    Counter,
    Effect.acquireRelease(
      Effect.sync(() => {
        built++
        log.push(`build counter ${built}`)
        return { n: 10 * built }
      }),
      () => Effect.sync(() => log.push("release counter"))
    )
  )
  const doubled = Layer.effect(
    Doubled,
    Effect.map(Counter, (c) => ({ n: 2 * c.n }))
  ).pipe(Layer.provide(counter))
  const tripled = Layer.effect(
    Tripled,
    Effect.map(Counter, (c) => ({ n: 3 * c.n }))
  ).pipe(Layer.provide(counter))
  return Layer.mergeAll(doubled, tripled, counter)
}

const run = <A, E>(effect: Effect.Effect<A, E, Runtime.Outside>) =>
  Runtime.run(Effect.withTracerEnabled(effect, false), 0).then((r) => r.exit)

const buildAndClose = (build: typeof SimLayer.build) =>
  Effect.gen(function* () {
    const log: Array<string> = []
    const scope = yield* Scope.make()
    const context = yield* Scope.extend(build(graph(log)), scope)
    const values = [Counter, Doubled, Tripled].map((tag) => Context.get(context, tag as typeof Counter).n)
    log.push("built")
    yield* Scope.close(scope, Exit.void)
    return { values, log }
  })

describe("SimLayer.build", () => {
  it("builds every Layer once however often it is used, and releases it when the scope closes, as Layer.build", async () => {
    const ours = await run(buildAndClose(SimLayer.build))
    const effects = await run(buildAndClose(Layer.build))
    const expected = { values: [10, 20, 30], log: ["build counter 1", "built", "release counter"] }
    expect(ours).toEqual(Exit.succeed(expected))
    expect(effects).toEqual(Exit.succeed(expected))
  })

  it("a simulated device's graph gives the same services as Layer.build", async () => {
    const keys = (build: typeof SimLayer.build) =>
      run(
        Effect.scoped(
          Effect.map(
            build(deviceLayer(deviceA).pipe(Layer.provide(TransportMemory.layerNetwork))),
            (context) => [...context.unsafeMap.keys()].sort()
          )
        )
      )
    const ours = await keys(SimLayer.build)
    expect(Exit.isSuccess(ours)).toBe(true)
    expect(ours).toEqual(await keys(Layer.build))
  })
})
