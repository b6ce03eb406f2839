// What this device needs to prove it belongs to its library: its identity and the library secret.
import { Context, Layer } from "effect"
import type { DeviceId, LibraryId } from "../domain/Ids.js"

/** The identity and library secret a transport authenticates with. */
export class Credentials extends Context.Tag("tidemark/Credentials")<
  Credentials,
  { readonly libraryId: LibraryId; readonly deviceId: DeviceId; readonly secret: string }
>() {
  static readonly layer = (c: Credentials["Type"]): Layer.Layer<Credentials> => Layer.succeed(Credentials, c)
}
