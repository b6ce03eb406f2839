// The application the simulator runs: two device-owned kinds (a file points to a note) and two shared kinds
// (a label points to a tag), so that both families, several kinds per family and references that may
// arrive before what they point to are all exercised.
import { Schema } from "effect"
import * as Catalog from "../domain/Catalog.js"
import * as Resource from "../domain/Resource.js"

const Note = Resource.owned("note", { title: Schema.String, size: Schema.Int })
const File = Resource.owned("file", { note: Schema.NullOr(Resource.ref("note")), name: Schema.String })
const Tag = Resource.shared("tag", { name: Schema.String })
const Label = Resource.shared("label", { tag: Resource.ref("tag"), name: Schema.String })

/** The simulated application's schema. */
export const SimApp = Catalog.schema(Note, File, Tag, Label)

/** Its compiled catalog. */
export const SimCatalog = Catalog.unsafeCompile(SimApp)

/** The fields of a write to `kind`, named `name`, pointing (where it points) at `target`. */
export const fieldsFor = (
  kind: string,
  name: string,
  size: number,
  target: string
): Record<string, unknown> => {
  switch (kind) {
    case "note":
      return { title: name, size }
    case "file":
      return { note: size % 3 === 0 ? null : target, name }
    case "tag":
      return { name }
    default:
      return { tag: target, name }
  }
}
