// Simulated devices for sync tests: each is a full device (stores, engine, memory transport) built into its
// own Context in the test's scope, all on one MemoryNetwork.
import { type Context, type Duration, Effect, Layer, Logger, LogLevel } from "effect"
import type { DeviceId } from "../../src/domain/Ids.js"
import * as Device from "../../src/layers/Device.js"
import type { BackfillProgress } from "../../src/services/BackfillProgress.js"
import type { ChangeFeed } from "../../src/services/ChangeFeed.js"
import type { CheckpointStore } from "../../src/services/CheckpointStore.js"
import type { HlcClock } from "../../src/services/HlcClock.js"
import type { Library } from "../../src/services/Library.js"
import { LibraryStore } from "../../src/services/LibraryStore.js"
import type { Kinds } from "../../src/services/Kinds.js"
import type { LocalDevice } from "../../src/services/LocalDevice.js"
import type { PeerStatus } from "../../src/services/PeerStatus.js"
import type { PeerTransport } from "../../src/services/PeerTransport.js"
import type { ProgressRecord } from "../../src/services/ProgressRecord.js"
import type { SharedLog } from "../../src/services/SharedLog.js"
import { SyncMetrics } from "../../src/services/SyncMetrics.js"
import type { WatermarkStore } from "../../src/services/WatermarkStore.js"
import * as TransportMemory from "../../src/layers/TransportMemory.js"
import { Credentials } from "../../src/services/Credentials.js"
import { dumpLines } from "../../src/services/Dump.js"
import * as SyncEngine from "../../src/services/SyncEngine.js"
import { libraryId } from "./fixtures.js"

export const SECRET = "the-library-secret"

export const fastOptions: SyncEngine.EngineOptions = {
  batchSize: 50,
  liveWaitMillis: 200,
  reconnectBaseMillis: 5,
  reconnectCapMillis: 50,
  spreadSettleMillis: 10
}

export const networkLayer = TransportMemory.layerNetwork

export const deviceLayer = (
  deviceId: DeviceId,
  options?: { readonly secret?: string; readonly libraryId?: typeof libraryId; readonly startMillis?: number }
) => {
  const credentials = Credentials.layer({
    libraryId: options?.libraryId ?? libraryId,
    deviceId,
    secret: options?.secret ?? SECRET
  })
  const stores = Device.layerMemory(
    { deviceId, libraryId: options?.libraryId ?? libraryId },
    options?.startMillis === undefined ? undefined : { startMillis: options.startMillis }
  )
  return Layer.merge(stores, TransportMemory.layer.pipe(Layer.provide(credentials)))
}

/** What every simulated device provides, on disk or in memory. */
export type DeviceContext =
  | Library
  | LibraryStore
  | WatermarkStore
  | CheckpointStore
  | SharedLog
  | HlcClock
  | LocalDevice
  | ChangeFeed
  | PeerStatus
  | SyncMetrics
  | ProgressRecord
  | PeerTransport
  | Kinds
  | BackfillProgress
export type Ctx = Context.Context<DeviceContext>

/** Build a device on the network in the current scope. */
export const device = (
  network: Context.Context<TransportMemory.MemoryNetwork>,
  deviceId: DeviceId,
  options?: Parameters<typeof deviceLayer>[1]
) => Layer.build(deviceLayer(deviceId, options).pipe(Layer.provide(Layer.succeedContext(network))))

/** Start the engine of a device: listen at `memory:<name>`, sync with `peers`. Runs until the scope closes. */
export const startEngine = (
  ctx: Context.Context<DeviceContext>,
  listen: string,
  peers: ReadonlyArray<string>,
  options: SyncEngine.EngineOptions = fastOptions
) =>
  SyncEngine.start({ listen, peers, options }).pipe(
    Effect.provide(ctx),
    Logger.withMinimumLogLevel(process.env.TIDEMARK_TEST_LOGS === "1" ? LogLevel.Debug : LogLevel.Error)
  )

export const dump = (ctx: Context.Context<DeviceContext>) => Effect.provide(dumpLines, ctx)

/** Wait until every device has the same dump (and it satisfies `check`), polling; fails after `timeout`. */
export const converged = (
  devices: ReadonlyArray<Context.Context<DeviceContext>>,
  check: (lines: ReadonlyArray<string>) => boolean = () => true,
  timeout: Duration.DurationInput = "20 seconds"
) =>
  Effect.gen(function* () {
    for (;;) {
      const dumps = yield* Effect.forEach(devices, dump)
      const same = dumps.every((d) => d.join("\n") === dumps[0]!.join("\n"))
      if (same && check(dumps[0]!)) return dumps[0]!
      yield* Effect.sleep("20 millis")
    }
  }).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new Error("devices did not converge in time")
    })
  )

/** A device whose stores live in `dir`: building it again on the same dir is a restart. */
export const deviceOnDisk = (
  network: Context.Context<TransportMemory.MemoryNetwork>,
  deviceId: DeviceId,
  dir: string,
  options?: { readonly secret?: string }
) =>
  Layer.build(
    Layer.merge(
      Device.layerSqlite(dir, { deviceId, libraryId }),
      TransportMemory.layer.pipe(
        Layer.provide(Credentials.layer({ libraryId, deviceId, secret: options?.secret ?? SECRET }))
      )
    ).pipe(Layer.provide(Layer.succeedContext(network)))
  )

/** How many rows a device has sent to `peer` (its sync counters). */
export const sentTo = (ctx: Ctx, peer: DeviceId) =>
  Effect.provide(
    Effect.map(
      Effect.flatMap(SyncMetrics, (m) => m.counters),
      (c) => c.get(peer)?.recordsSent ?? 0
    ),
    ctx
  )

/** How many entry rows a device holds. */
export const entryCount = (ctx: Ctx) =>
  Effect.provide(
    Effect.flatMap(LibraryStore, (s) => s.countAfter("entry", 0)),
    ctx
  )
