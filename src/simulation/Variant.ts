// A variant of the device the simulator runs: Layers that replace or wrap parts of a device. The simulator
// itself runs the product as it is (no variant); tests run deliberately broken variants to show that the
// simulator catches each bug class. Variants live in test code; this module only says what one can replace.
import type { Layer } from "effect"
import type { Overrides } from "../layers/Device.js"
import type { LibraryDb, SyncDb } from "../layers/Sqlite.js"
import type { HlcClock } from "../services/HlcClock.js"
import type { Kinds } from "../services/Kinds.js"
import type { LibraryStore } from "../services/LibraryStore.js"
import type { LocalDevice } from "../services/LocalDevice.js"
import type { PeerTransport } from "../services/PeerTransport.js"
import type { WatermarkStore } from "../services/WatermarkStore.js"

/** The parts of one incarnation of a simulated device that a variant may build on. */
export interface DeviceParts {
  readonly syncDb: Layer.Layer<SyncDb>
  readonly libraryDb: Layer.Layer<LibraryDb>
  readonly device: Layer.Layer<LocalDevice | Kinds>
}

/** What a variant replaces in each device. */
export interface Variant {
  readonly name: string
  /** Stores to put in place of the device's own (as an application's overrides). */
  readonly overrides?: (parts: DeviceParts) => Overrides
  /** The LibraryStore over database.db. */
  readonly libraryStore?: (
    parts: DeviceParts
  ) => Layer.Layer<LibraryStore, never, LibraryDb | HlcClock | LocalDevice | Kinds>
  /** A wrapper of the device's transport, given the device's own watermark store. */
  readonly transport?: (
    inner: PeerTransport["Type"],
    watermarks: WatermarkStore["Type"]
  ) => PeerTransport["Type"]
}
