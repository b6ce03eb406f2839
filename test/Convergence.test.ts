import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc, Layer } from "effect"
import { DeviceId } from "../src/domain/Ids.js"
import { FileLibraryCatalog } from "../src/domain/FileLibrary.js"
import type { ResourceType } from "../src/domain/Resource.js"
import { type Row } from "../src/domain/Row.js"
import * as TransportMemory from "../src/layers/TransportMemory.js"
import { Library } from "../src/services/Library.js"
import { uuidN } from "./support/fixtures.js"
import * as Sim from "./support/sim.js"

const devices = [1, 2, 3, 4, 5].map((i) =>
  DeviceId.make(`${String(i).repeat(8)}-0000-4000-8000-00000000000${i}`)
)

const fieldsFor = (resource: ResourceType, name: string): Record<string, unknown> => {
  switch (resource) {
    case "device":
      return { name, address: null }
    case "volume":
      return { name, mount_point: `/mnt/${name}`, capacity: null }
    case "location":
      return { volume: null, path: `/${name}`, name }
    case "entry":
      return {
        location: uuidN(1),
        parent: null,
        name,
        kind: "file",
        size: name.length,
        modified_at: 1,
        content_hash: null
      }
    case "tag":
      return { name, color: null }
    case "collection":
      return { name }
    case "tag_assignment":
      return { tag: uuidN(2), entry: uuidN(3) }
    case "collection_entry":
      return { collection: uuidN(4), entry: uuidN(5) }
    default:
      throw new Error(`no fields for ${resource}`)
  }
}

/** Owned rows get uuids of their own device; shared rows are contended by everyone. */
const uuidFor = (device: number, resource: ResourceType, index: number) =>
  uuidN(
    (FileLibraryCatalog.isShared(resource) ? 100_000 : 1_000 * (device + 1)) +
      FileLibraryCatalog.names.indexOf(resource) * 10 +
      index
  )

const scenario = fc.integer({ min: 2, max: 5 }).chain((n) =>
  fc.record({
    n: fc.constant(n),
    ops: fc.array(
      fc.record({
        device: fc.integer({ min: 0, max: n - 1 }),
        resource: fc.constantFrom(...FileLibraryCatalog.names),
        index: fc.integer({ min: 0, max: 2 }),
        remove: fc.boolean(),
        name: fc.constantFrom("alpha", "beta", "gamma", "delta"),
        pauseMillis: fc.integer({ min: 0, max: 4 })
      }),
      { minLength: 5, maxLength: 40 }
    ),
    faults: fc.record({
      dropRate: fc.double({ min: 0, max: 0.1, noNaN: true }),
      duplicateRate: fc.double({ min: 0, max: 0.3, noNaN: true }),
      maxDelayMillis: fc.integer({ min: 0, max: 8 }),
      cutAfterMessages: fc.option(fc.integer({ min: 5, max: 60 }), { nil: undefined }),
      timeoutMillis: fc.constant(30)
    }),
    partitions: fc.array(
      fc.record({
        atMillis: fc.integer({ min: 0, max: 60 }),
        split: fc.array(fc.boolean(), { minLength: n, maxLength: n })
      }),
      { maxLength: 3 }
    )
  })
)

describe("convergence", () => {
  it.live.prop(
    "N devices writing concurrently through loss, duplication, reordering, cuts and partitions end identical, losing no write",
    [scenario],
    ([s]) =>
      Effect.scoped(
        Effect.gen(function* () {
          const net = yield* Layer.build(Sim.networkLayer)
          const network = Effect.provide(TransportMemory.MemoryNetwork, net)
          const ids = devices.slice(0, s.n)
          const ctxs = yield* Effect.forEach(ids, (id) => Sim.device(net, id))
          const addresses = ids.map((_, i) => `memory:d${i}`)
          yield* Effect.forEach(ctxs, (ctx, i) =>
            Sim.startEngine(
              ctx,
              addresses[i]!,
              addresses.filter((_, j) => j !== i)
            )
          )
          yield* Effect.flatMap(network, (n) => n.setFaults(s.faults))

          // Every row a write returned: the newest version of each uuid is what every device must end with.
          const written = new Map<string, Row>()
          const writer = (device: number) =>
            Effect.forEach(
              s.ops.filter((op) => op.device === device),
              (op) =>
                Effect.gen(function* () {
                  const library = yield* Library
                  const uuid = uuidFor(device, op.resource, op.index)
                  const rows = op.remove
                    ? yield* Effect.map(library.remove(op.resource, uuid), (r) => [r]).pipe(
                        Effect.catchTag("RowNotFoundError", () => Effect.succeed([]))
                      )
                    : yield* library.write(op.resource, [{ uuid, fields: fieldsFor(op.resource, op.name) }])
                  for (const row of rows) {
                    const key = `${op.resource}/${row.uuid}`
                    if ((written.get(key)?.version ?? "") < row.version) written.set(key, row)
                  }
                  yield* Effect.sleep(`${op.pauseMillis} millis`)
                }).pipe(Effect.provide(ctxs[device]!)),
              { discard: true }
            )
          const partitioner = Effect.forEach(
            [...s.partitions].sort((a, b) => a.atMillis - b.atMillis),
            (p) =>
              Effect.zipRight(
                Effect.sleep(`${p.atMillis} millis`),
                Effect.flatMap(network, (n) =>
                  n.partition([ids.filter((_, i) => p.split[i]), ids.filter((_, i) => !p.split[i])])
                )
              ),
            { discard: true }
          )
          yield* Effect.all([...ids.map((_, i) => writer(i)), partitioner], { concurrency: "unbounded" })

          yield* Effect.flatMap(network, (n) =>
            Effect.zipRight(n.heal, n.setFaults(TransportMemory.noFaults))
          )
          const expected = [...written.entries()]
            .map(([key, row]) => `${key}@${row.version}:${row.deleted}`)
            .sort()
          const summary = (lines: ReadonlyArray<string>) =>
            lines
              .map(
                (l) => JSON.parse(l) as { resource: string; uuid: string; version: string; deleted: boolean }
              )
              .map((r) => `${r.resource}/${r.uuid}@${r.version}:${r.deleted}`)
              .sort()
          const final = yield* Sim.converged(
            ctxs,
            (lines) => summary(lines).join() === expected.join(),
            "30 seconds"
          ).pipe(
            Effect.catchAll(() =>
              Effect.flatMap(Effect.forEach(ctxs, Sim.dump), (dumps) =>
                Effect.succeed({ failed: true as const, dumps })
              )
            )
          )
          if (!Array.isArray(final)) {
            expect(final.dumps.map(summary)).toEqual(ctxs.map(() => expected))
          }
        })
      ),
    { timeout: 240_000, fastCheck: { numRuns: 12 } }
  )
})
