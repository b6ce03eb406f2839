// The services an application may replace by providing its own Layer through `Tidemark.layer`'s `overrides`
// and `transport`: the clock, the cursor stores and the transport, with the interfaces they must keep.
export { HlcClock } from "../services/HlcClock.js"
export { type Watermark, WatermarkStore } from "../services/WatermarkStore.js"
export {
  type Checkpoint,
  type CheckpointProgress,
  CheckpointStore,
  type RangeCheckpoint,
  type RangeCheckpoints
} from "../services/CheckpointStore.js"
export { type PeerConnection, type PeerHandler, PeerTransport } from "../services/PeerTransport.js"
export { Credentials } from "../services/Credentials.js"
export { LocalDevice } from "../services/LocalDevice.js"
export type { Overrides } from "../layers/Device.js"
export type { Hlc, HlcString } from "../domain/Hlc.js"
export type { PeerRequest } from "../domain/Protocol.js"
