// A device's data directory: device.json (who this device is, its library and the library secret),
// database.db and sync.db. Keeps: a directory holds at most one device, and a missing or foreign directory is
// reported as such (DataDirError) instead of being silently created or half-read.
import { Effect, Either, Schema } from "effect"
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { FileLibrary } from "../domain/FileLibrary.js"
import { Storage, Tidemark } from "../index.js"
import * as JoinCode from "./JoinCode.js"
import { DeviceId, LibraryId } from "./Uuid.js"

/** The file in a data directory that says which device it holds. */
export const DEVICE_FILE = "device.json"

/** What device.json holds: the library, this device, the library secret, the device's name. */
export const Identity = Schema.Struct({
  libraryId: LibraryId,
  deviceId: DeviceId,
  secret: Schema.String,
  name: Schema.String
})
/** See `Identity`. */
export type Identity = typeof Identity.Type

/** The data directory is missing, not a directory, or holds no (or a damaged) device. */
export class DataDirError extends Schema.TaggedError<DataDirError>()("DataDirError", {
  dir: Schema.String,
  reason: Schema.String
}) {
  get message() {
    return `${this.dir}: ${this.reason}`
  }
}

export { defaultDataDir } from "./DefaultDataDir.js"

/** The identity of the device that `dir` holds. */
export const load = (dir: string): Effect.Effect<Identity, DataDirError> =>
  Effect.suspend(() => {
    const fail = (reason: string) => Effect.fail(new DataDirError({ dir, reason }))
    if (!existsSync(dir))
      return fail("no such directory (create a device with `tidemark init` or `tidemark join`)")
    if (!statSync(dir).isDirectory()) return fail("not a directory")
    const file = join(dir, DEVICE_FILE)
    if (!existsSync(file)) {
      return fail(
        `not a Tidemark data directory (no ${DEVICE_FILE}; run \`tidemark init\` or \`tidemark join\`)`
      )
    }
    let raw: unknown
    try {
      raw = JSON.parse(readFileSync(file, "utf8"))
    } catch (e) {
      return fail(`${DEVICE_FILE} is unreadable: ${e instanceof Error ? e.message : String(e)}`)
    }
    return Either.match(Schema.decodeUnknownEither(Identity)(raw), {
      onLeft: () => fail(`${DEVICE_FILE} is not a Tidemark device file`),
      onRight: Effect.succeed
    })
  })

const create = (dir: string, identity: Identity): Effect.Effect<Identity, DataDirError> =>
  Effect.try({
    try: () => {
      mkdirSync(dir, { recursive: true })
      const file = join(dir, DEVICE_FILE)
      if (existsSync(file)) throw new Error(`already holds a device (${DEVICE_FILE} exists)`)
      writeFileSync(file, JSON.stringify(identity, null, 2) + "\n", { mode: 0o600, flag: "wx" })
      return identity
    },
    catch: (e) => new DataDirError({ dir, reason: e instanceof Error ? e.message : String(e) })
  })

/** A new library with this device as its first member. */
export const initLibrary = (dir: string, name: string) => {
  const library = Tidemark.newLibrary()
  return create(dir, {
    libraryId: LibraryId.make(library.id),
    deviceId: DeviceId.make(Tidemark.newDevice()),
    secret: library.secret,
    name
  })
}

/** A new device of the library named by a join code. */
export const joinLibrary = (dir: string, code: string, name: string) =>
  Effect.flatMap(JoinCode.decode(code), (c) =>
    create(dir, {
      libraryId: LibraryId.make(c.libraryId),
      deviceId: DeviceId.make(Tidemark.newDevice()),
      secret: c.secret,
      name
    })
  )

/** The join code of the library of `identity`, for `tidemark join`. */
export const joinCodeOf = (identity: Identity): string =>
  JoinCode.encode({ libraryId: identity.libraryId, secret: identity.secret })

/** What the engine needs to open the device of `dir`: the file library's kinds, its library, its id, the directory. */
export const deviceConfig = (dir: string, identity: Identity) => ({
  schema: FileLibrary,
  library: { id: identity.libraryId, secret: identity.secret },
  device: identity.deviceId,
  storage: Storage.directory(dir)
})
