// Building a simulated device's Layers at each start of each incarnation: one Layer after another on the
// starting fiber, each built once (by reference, as Effect's memo map does), every resource in the
// incarnation's scope. Effect's `Layer.build` does the same work through a memo map that builds every Layer
// under a lock with a deferred, a scope of its own, and the Layers of a merge on fibers of their own, which
// costs a device's start about 7,000 Effect operations and its close 3,000 more, a fifth of a seed's. The
// services built are the same; only the order in which independent Layers are built (one after another, not
// concurrently) and in which their finalizers run (in reverse, one after another) differ.
// Keeps: a device runs exactly the product's Layers; a Layer this builder does not know is built by Effect's.
import { type Cause, Context, Effect, FiberRef, Layer, Scope } from "effect"

/** A Layer as Effect represents it inside (effect/internal/layer.ts), read only here. */
type Node =
  | { readonly _op_layer: "Suspend"; readonly evaluate: () => Node }
  | {
      readonly _op_layer: "Provide" | "ProvideMerge" | "ZipWith"
      readonly first: Node
      readonly second: Node
    }
  | { readonly _op_layer: "MergeAll"; readonly layers: ReadonlyArray<Node> }
  | { readonly _op_layer: "FromEffect" | "Scoped"; readonly effect: Built }
  | { readonly _op_layer: "Fresh" | "ExtendScope"; readonly layer: Node }
  | {
      readonly _op_layer: "Fold"
      readonly layer: Node
      readonly failureK: (cause: Cause.Cause<unknown>) => Node
      readonly successK: (context: Context.Context<never>) => Node
    }
  | { readonly _op_layer: "Locally"; readonly self: Node; readonly f: (built: Built) => Built }

type Built = Effect.Effect<Context.Context<never>, unknown, unknown>

const zipKOf = (
  node: Node
): ((a: Context.Context<never>, b: Context.Context<never>) => Context.Context<never>) =>
  (
    node as unknown as {
      readonly zipK: (a: Context.Context<never>, b: Context.Context<never>) => Context.Context<never>
    }
  ).zipK

const buildNode = (node: Node, memo: Map<Node, Context.Context<never>>, scope: Scope.Scope): Built =>
  Effect.suspend(() => {
    const done = memo.get(node)
    if (done !== undefined) return Effect.succeed(done)
    return Effect.tap(buildFresh(node, memo, scope), (context) => {
      memo.set(node, context)
    })
  })

const buildFresh = (node: Node, memo: Map<Node, Context.Context<never>>, scope: Scope.Scope): Built => {
  switch (node._op_layer) {
    case "Suspend":
      return buildNode(node.evaluate(), memo, scope)
    case "Provide":
      // The second is built in exactly the first's context (which holds the context it was built in).
      return Effect.flatMap(buildNode(node.first, memo, scope), (context) =>
        Effect.locally(buildNode(node.second, memo, scope), FiberRef.currentContext, context)
      )
    case "ProvideMerge":
    case "ZipWith": {
      const zipK = zipKOf(node)
      return Effect.flatMap(buildNode(node.first, memo, scope), (a) =>
        Effect.map(buildNode(node.second, memo, scope), (b) => zipK(a, b))
      )
    }
    case "MergeAll":
      return Effect.map(
        Effect.forEach(node.layers, (layer) => buildNode(layer, memo, scope)),
        (contexts) => Context.mergeAll(...contexts)
      )
    case "FromEffect":
      return node.effect
    case "Scoped":
      return Scope.extend(node.effect, scope)
    case "Fresh":
      return buildNode(node.layer, new Map(), scope)
    case "ExtendScope":
      return Effect.flatMap(Effect.scope, (outer) => buildNode(node.layer, memo, outer))
    case "Fold":
      return Effect.matchCauseEffect(buildNode(node.layer, memo, scope), {
        onFailure: (cause) => buildNode(node.failureK(cause), memo, scope),
        onSuccess: (context) => buildNode(node.successK(context), memo, scope)
      })
    case "Locally":
      return node.f(buildNode(node.self, memo, scope))
    default:
      return Layer.buildWithScope(node as unknown as Layer.Layer<never, unknown, unknown>, scope)
  }
}

/** Build `layer` as `Layer.build` does: its services, its resources released when the scope closes. */
export const build = <ROut, E, RIn>(
  layer: Layer.Layer<ROut, E, RIn>
): Effect.Effect<Context.Context<ROut>, E, RIn | Scope.Scope> =>
  Effect.flatMap(
    Effect.scope,
    (scope) =>
      buildNode(layer as unknown as Node, new Map(), scope) as Effect.Effect<Context.Context<ROut>, E, RIn>
  )
