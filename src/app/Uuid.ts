// The ids the file library reads from people and files (device.json, command arguments): lower-case canonical
// UUIDs, the form the engine accepts for devices, libraries and rows.
import { Schema } from "effect"

/** A UUID in its canonical lower-case form. */
export const Uuid = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, {
    message: () => "expected a lower-case UUID"
  })
)

/** A device's id. Branded as the engine brands it, so benchmarks can hand a device.json's id to engine layers. */
export const DeviceId = Uuid.pipe(Schema.brand("DeviceId"))

/** A library's id, branded as the engine brands it. */
export const LibraryId = Uuid.pipe(Schema.brand("LibraryId"))
