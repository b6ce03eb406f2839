// Every store's contract, run against every implementation of it. A new backend (PostgreSQL) is one more
// line per store here. The sqlite stores run on a fresh in-memory sync.db per test (same SQL as on disk).
import { Layer } from "effect"
import * as Device from "../src/layers/Device.js"
import * as CheckpointStoreMemory from "../src/layers/CheckpointStoreMemory.js"
import * as CheckpointStoreSqlite from "../src/layers/CheckpointStoreSqlite.js"
import * as SharedLogMemory from "../src/layers/SharedLogMemory.js"
import * as SharedLogSqlite from "../src/layers/SharedLogSqlite.js"
import * as SyncDbSchema from "../src/layers/SyncDbSchema.js"
import * as WatermarkStoreMemory from "../src/layers/WatermarkStoreMemory.js"
import * as WatermarkStoreSqlite from "../src/layers/WatermarkStoreSqlite.js"
import { LocalDevice } from "../src/services/LocalDevice.js"
import { checkpointStoreContract } from "./contract/CheckpointStoreContract.js"
import { sharedLogContract } from "./contract/SharedLogContract.js"
import { watermarkStoreContract } from "./contract/WatermarkStoreContract.js"
import { deviceA, libraryId } from "./support/fixtures.js"

/** The three sync.db stores of one device over one fresh sync.db, as Device.layerSqlite wires them. */
const sqlite = () =>
  Layer.mergeAll(WatermarkStoreSqlite.layer, CheckpointStoreSqlite.layer, SharedLogSqlite.layer).pipe(
    Layer.provide(Layer.merge(SyncDbSchema.layer(":memory:"), LocalDevice.layer(deviceA, libraryId)))
  )

/** The memory stores as Device.layerMemory wires them: the WatermarkStore clears the device's checkpoints. */
const memoryMarks = () => WatermarkStoreMemory.layer.pipe(Layer.provideMerge(CheckpointStoreMemory.layer))

watermarkStoreContract("memory", memoryMarks)
watermarkStoreContract("sqlite", sqlite)
// The wiring matters too: a device's WatermarkStore must clear the CheckpointStore that device uses.
watermarkStoreContract("memory device", () => Device.layerMemory({ deviceId: deviceA, libraryId }))

checkpointStoreContract("memory", () => CheckpointStoreMemory.layer)
checkpointStoreContract("sqlite", sqlite)

sharedLogContract("memory", () => SharedLogMemory.layer)
sharedLogContract("sqlite", sqlite)
