// Declaring the kinds an application syncs (device-owned or shared) with effect Schema.
export {
  type AnyKind,
  type Family,
  type FieldsOf,
  type Kind,
  owned,
  ref,
  ReferenceAnnotationId,
  shared
} from "../domain/Resource.js"
