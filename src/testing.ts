// tidemark/testing: run N devices of an application's schema in one process, over an in-process network
// that can drop, delay, duplicate and reorder messages and partition devices, so an application can
// property-test its own sync (for example with @effect/vitest's `it.prop` and `it.scoped`).
import { Context, Duration, Effect, Layer, Schema, type Scope } from "effect"
import type { AppSchema } from "./domain/Catalog.js"
import { newDeviceId, newLibraryId } from "./domain/Ids.js"
import * as Engine from "./layers/Engine.js"
import * as TransportMemory from "./layers/TransportMemory.js"
import { Database } from "./services/Database.js"
import type { EngineOptions } from "./services/SyncEngine.js"

/** Faults of the in-process network: loss, duplication, delay (and so reordering), cut connections. */
export type Faults = TransportMemory.Faults

/** No faults. */
export const noFaults: Faults = TransportMemory.noFaults

/** Engine settings that make tests fast: small pages, short live waits, quick reconnects. */
export const fastOptions: EngineOptions = {
  batchSize: 50,
  liveWaitMillis: 200,
  reconnectBaseMillis: 5,
  reconnectCapMillis: 50,
  spreadSettleMillis: 10
}

/** One device of a test: its id, its address on the network, and its Database. */
export interface TestDevice {
  readonly id: string
  readonly address: string
  readonly database: Database["Type"]
}

/** The devices of a test and the network between them. */
export interface TestLibrary {
  readonly devices: ReadonlyArray<TestDevice>
  readonly network: TransportMemory.MemoryNetwork["Type"]
}

/**
 * Start `count` devices of `schema` in memory, every one pulling from every other, on a network with
 * `faults` (default none). They run until the scope closes.
 */
export const devices = (options: {
  readonly schema: AppSchema
  readonly count: number
  readonly faults?: Partial<Faults>
  readonly engine?: Partial<EngineOptions>
}): Effect.Effect<TestLibrary, Engine.StartError, Scope.Scope> =>
  Effect.gen(function* () {
    const network = yield* TransportMemory.makeNetwork
    yield* network.setFaults({ ...noFaults, ...options.faults })
    const library = { id: newLibraryId(), secret: "tidemark-testing" }
    const started: Array<TestDevice> = []
    for (let i = 0; i < options.count; i++) {
      const id = newDeviceId()
      const address = `memory:device-${i}`
      const context = yield* Layer.build(
        Engine.layer({
          schema: options.schema,
          library,
          device: id,
          storage: Engine.memory,
          listen: address,
          peers: started.map((d) => d.address),
          transport: TransportMemory.layer.pipe(
            Layer.provide(Layer.succeed(TransportMemory.MemoryNetwork, network))
          ),
          options: { ...fastOptions, ...options.engine }
        })
      )
      started.push({ id, address, database: Context.get(context, Database) })
    }
    return { devices: started, network }
  })

/** Devices did not converge within the time given. */
export class NotConverged extends Schema.TaggedError<NotConverged>()("NotConverged", {
  devices: Schema.Number,
  timeout: Schema.String,
  /** How the devices differed at the last look: rows each holds that the first does not, and the reverse. */
  difference: Schema.String
}) {
  get message() {
    return `${this.devices} devices did not converge within ${this.timeout}: ${this.difference}`
  }
}

/** At most this many differing rows are named per device in NotConverged. */
const SHOWN_DIFFERENCES = 5

/** How each device's dump differs from the first one's, or why `check` refused dumps that agree. */
const describeDifference = (
  devices: ReadonlyArray<TestDevice>,
  dumps: ReadonlyArray<ReadonlyArray<string>>
): string => {
  const first = new Set(dumps[0])
  const parts = dumps.slice(1).flatMap((dump, i) => {
    const own = new Set(dump)
    const extra = dump.filter((l) => !first.has(l))
    const missing = dumps[0]!.filter((l) => !own.has(l))
    if (extra.length === 0 && missing.length === 0) return []
    const show = (lines: ReadonlyArray<string>) =>
      lines.slice(0, SHOWN_DIFFERENCES).join("; ") + (lines.length > SHOWN_DIFFERENCES ? "; …" : "")
    return [
      `${devices[i + 1]!.address} holds ${dump.length} rows, ${devices[0]!.address} ${dumps[0]!.length}; ` +
        `only on ${devices[i + 1]!.address} (${extra.length}): ${show(extra)}; ` +
        `only on ${devices[0]!.address} (${missing.length}): ${show(missing)}`
    ]
  })
  return parts.length === 0
    ? `all hold the same ${dumps[0]!.length} rows, which the check refused`
    : parts.join(" | ")
}

/**
 * Wait until every device holds the same rows (their dumps are identical) and `check` accepts them; fails
 * with NotConverged after `timeout` (default 20 s). Returns the common dump.
 */
export const converged = (
  devices: ReadonlyArray<TestDevice>,
  options?: {
    readonly check?: (dump: ReadonlyArray<string>) => boolean
    readonly timeout?: Duration.DurationInput
  }
): Effect.Effect<ReadonlyArray<string>, NotConverged> =>
  Effect.gen(function* () {
    if (devices.length === 0) return []
    let last: ReadonlyArray<ReadonlyArray<string>> = []
    const looking = Effect.gen(function* () {
      for (;;) {
        const dumps = yield* Effect.forEach(devices, (d) => Effect.orDie(d.database.dump))
        last = dumps
        const first = dumps[0]!.join("\n")
        if (dumps.every((d) => d.join("\n") === first) && (options?.check?.(dumps[0]!) ?? true))
          return dumps[0]!
        yield* Effect.sleep("20 millis")
      }
    })
    const timeout = options?.timeout ?? Duration.seconds(20)
    return yield* looking.pipe(
      Effect.timeoutFail({
        duration: timeout,
        onTimeout: () =>
          new NotConverged({
            devices: devices.length,
            timeout: Duration.format(Duration.decode(timeout)),
            difference: last.length === 0 ? "no dump was read" : describeDifference(devices, last)
          })
      })
    )
  })
