// Tags as a person edits them: add, rename, delete, and assign to entries. Tags and assignments are shared
// rows, so every write goes through the Library (and with it the shared log). Keeps: an assignment's uuid is
// a function of (tag, entry), so assigning twice, on one device or on two, names one row; and a write that
// would change nothing is not made, so it does not create a new version to sync.
import { Effect, Option } from "effect"
import { derivedUuid } from "../domain/DerivedId.js"
import { RowNotFoundError } from "../domain/Errors.js"
import type { InvalidRowError, NotOwnerError, StoreError } from "../domain/Errors.js"
import { newUuid, type Uuid } from "../domain/Ids.js"
import type { TagAssignmentFields, TagFields } from "../domain/FileLibrary.js"
import type { ResourceType } from "../domain/Resource.js"
import type { StoredRow } from "../domain/Row.js"
import { Library } from "./Library.js"
import { LibraryStore } from "./LibraryStore.js"

type TagError = InvalidRowError | NotOwnerError | StoreError | RowNotFoundError
type TagEffect<A> = Effect.Effect<A, TagError, Library | LibraryStore>

export const assignmentUuidOf = (tag: Uuid, entry: Uuid): Uuid => derivedUuid("tag_assignment", tag, entry)

/** The live (not deleted) row, or RowNotFoundError. */
const live = (
  resource: ResourceType,
  uuid: Uuid
): Effect.Effect<StoredRow, StoreError | RowNotFoundError, LibraryStore> =>
  Effect.flatMap(LibraryStore, (store) => store.get(resource, uuid)).pipe(
    Effect.flatMap((row) =>
      Option.isSome(row) && !row.value.deleted
        ? Effect.succeed(row.value)
        : Effect.fail(new RowNotFoundError({ resource, uuid }))
    )
  )

export const add = (name: string, color: string | null = null): TagEffect<Uuid> =>
  Effect.gen(function* () {
    const uuid = newUuid()
    const fields: TagFields = { name, color }
    yield* Effect.flatMap(Library, (l) => l.write("tag", [{ uuid, fields }]))
    return uuid
  })

export const rename = (uuid: Uuid, name: string): TagEffect<void> =>
  Effect.gen(function* () {
    const row = yield* live("tag", uuid)
    if (row.fields.name === name) return
    yield* Effect.flatMap(Library, (l) => l.write("tag", [{ uuid, fields: { ...row.fields, name } }]))
  })

/** Delete a tag (a tombstone). Deleting a tag that is already deleted changes nothing. */
export const remove = (uuid: Uuid): TagEffect<void> =>
  Effect.gen(function* () {
    const row = yield* Effect.flatMap(LibraryStore, (s) => s.get("tag", uuid))
    if (Option.isNone(row)) return yield* new RowNotFoundError({ resource: "tag", uuid })
    if (row.value.deleted) return
    yield* Effect.flatMap(Library, (l) => l.remove("tag", uuid))
  })

/** Tag an entry. Both must exist here; assigning again is a no-op. Returns the assignment's uuid. */
export const assign = (tag: Uuid, entry: Uuid): TagEffect<Uuid> =>
  Effect.gen(function* () {
    yield* live("tag", tag)
    yield* live("entry", entry)
    const uuid = assignmentUuidOf(tag, entry)
    const held = yield* Effect.flatMap(LibraryStore, (s) => s.get("tag_assignment", uuid))
    if (Option.isSome(held) && !held.value.deleted) return uuid
    const fields: TagAssignmentFields = { tag, entry }
    yield* Effect.flatMap(Library, (l) => l.write("tag_assignment", [{ uuid, fields }]))
    return uuid
  })
