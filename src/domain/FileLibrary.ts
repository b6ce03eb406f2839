// The file library: Tidemark's first application, declared through the same API any application uses. An
// index of files and folders per device (volumes, locations, entries: device-owned) and the tags and
// collections every device may edit (shared). Column names are snake_case: they name SQLite columns.
import { Schema } from "effect"
import { type Catalog, schema, unsafeCompile } from "./Catalog.js"
import { type FieldsOf, owned, ref, shared } from "./Resource.js"

const MAX_NAME = 4096
const Name = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(MAX_NAME))
const Count = Schema.Int.pipe(Schema.nonNegative(), Schema.lessThanOrEqualTo(Number.MAX_SAFE_INTEGER))

/** A device of the library, as it announces itself. */
export const Device = owned("device", { name: Name, address: Schema.NullOr(Schema.String) })
export const Volume = owned("volume", {
  name: Name,
  mount_point: Schema.String,
  capacity: Schema.NullOr(Count)
})
/** A folder root on its device. */
export const Location = owned("location", {
  volume: Schema.NullOr(ref("volume")),
  path: Schema.String,
  name: Name
})
/** A file or folder under a location. */
export const Entry = owned("entry", {
  location: ref("location"),
  parent: Schema.NullOr(ref("entry")),
  name: Name,
  kind: Schema.Literal("file", "dir"),
  size: Count,
  modified_at: Count,
  content_hash: Schema.NullOr(Schema.String)
})
export const Tag = shared("tag", { name: Name, color: Schema.NullOr(Schema.String) })
export const Collection = shared("collection", { name: Name })
export const TagAssignment = shared("tag_assignment", { tag: ref("tag"), entry: ref("entry") })
export const CollectionEntry = shared("collection_entry", {
  collection: ref("collection"),
  entry: ref("entry")
})

/** The file library's kinds. */
export const FileLibrary = schema(
  Device,
  Volume,
  Location,
  Entry,
  Tag,
  Collection,
  TagAssignment,
  CollectionEntry
)

/** The file library compiled (a test keeps it compiling). */
export const FileLibraryCatalog: Catalog = unsafeCompile(FileLibrary)

export type DeviceFields = FieldsOf<typeof Device>
export type LocationFields = FieldsOf<typeof Location>
export type EntryFields = FieldsOf<typeof Entry>
export type TagFields = FieldsOf<typeof Tag>
export type TagAssignmentFields = FieldsOf<typeof TagAssignment>
