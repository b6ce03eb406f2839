// Who this device is: its id and the library it belongs to. Everything that stamps or owns rows reads it here.
import { Context, Layer } from "effect"
import type { DeviceId, LibraryId } from "../domain/Ids.js"

/** Which device this is and which library it belongs to. */
export class LocalDevice extends Context.Tag("tidemark/LocalDevice")<
  LocalDevice,
  { readonly deviceId: DeviceId; readonly libraryId: LibraryId }
>() {
  static readonly layer = (deviceId: DeviceId, libraryId: LibraryId): Layer.Layer<LocalDevice> =>
    Layer.succeed(LocalDevice, { deviceId, libraryId })
}
