// The engine as an application composes it: declare the kinds (`schema`), run a device (`layer`), and use its
// data (`Database`) and state (`Engine`).
import { newDeviceId, newLibraryId } from "../domain/Ids.js"
import { randomBytes } from "node:crypto"
import type { LibraryKey } from "../layers/Engine.js"

export { type AppSchema, schema } from "../domain/Catalog.js"
export {
  type Config,
  Engine,
  layer,
  layerOffline,
  type LibraryKey,
  type OfflineConfig,
  type StartError
} from "../layers/Engine.js"
export {
  type BatchWrite,
  Database,
  type Entity,
  type KindChange,
  type WriteError
} from "../services/Database.js"
export { type KindComparison, Replica, type Verification, type VerifyError } from "../services/Replica.js"
export { type Difference, type RowDifference } from "../domain/Divergence.js"
export type { Progress, StatusReport as Status, StorageReport } from "../services/StatusReport.js"
export type { Inspection } from "../services/Inspect.js"
export type { Change } from "../services/Changes.js"
export type { Backfill } from "../services/BackfillProgress.js"
export { defaultEngineOptions, type EngineOptions } from "../services/SyncEngine.js"

/** A new library: a random id and a random secret, to share with every device that joins it. */
export const newLibrary = (): LibraryKey => ({
  id: newLibraryId(),
  secret: randomBytes(32).toString("base64url")
})

/** A new random device id. Keep it with the device's data: a device must have the same id on every start. */
export const newDevice = (): string => newDeviceId()
