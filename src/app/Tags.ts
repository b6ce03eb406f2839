// Tags as a person edits them: add, rename, delete, and assign to entries. Tags and assignments are shared
// kinds, so any device may edit them and every write reaches every device. Keeps: an assignment's uuid is a
// function of (tag, entry), so assigning twice, on one device or on two, names one row; and a write that
// would change nothing is not made, so it does not create a new version to sync.
import { Effect, Option } from "effect"
import { Entry, Tag, TagAssignment } from "../domain/FileLibrary.js"
import { Errors, type Resource, Tidemark } from "../index.js"
import { derivedUuid } from "./DerivedId.js"

type TagError = Tidemark.WriteError | Errors.RowNotFoundError
type TagEffect<A> = Effect.Effect<A, TagError, Tidemark.Database>

/** The uuid of the assignment of `tag` to `entry`: the same on every device. */
export const assignmentUuidOf = (tag: string, entry: string): string =>
  derivedUuid("tag_assignment", tag, entry)

/** The live (not deleted) row, or RowNotFoundError. */
const live = <K extends Resource.AnyKind>(kind: K, uuid: string) =>
  Effect.flatMap(Tidemark.Database, (db) => db.get(kind, uuid)).pipe(
    Effect.flatMap(
      Option.match({
        onNone: () => Effect.fail(new Errors.RowNotFoundError({ resource: kind.name, uuid })),
        onSome: Effect.succeed
      })
    )
  )

/** Create a tag; returns its uuid. */
export const add = (name: string, color: string | null = null): TagEffect<string> =>
  Effect.flatMap(Tidemark.Database, (db) => db.write(Tag, { name, color })).pipe(Effect.map((t) => t.uuid))

/** Rename a live tag; the same name writes nothing. */
export const rename = (uuid: string, name: string): TagEffect<void> =>
  Effect.gen(function* () {
    const tag = yield* live(Tag, uuid)
    if (tag.fields.name === name) return
    yield* Effect.flatMap(Tidemark.Database, (db) => db.write(Tag, { ...tag.fields, name }, uuid))
  })

/** Delete a tag (a tombstone). Deleting a tag that is already deleted changes nothing. */
export const remove = (uuid: string): TagEffect<void> =>
  Effect.flatMap(Tidemark.Database, (db) => db.remove(Tag, uuid))

/** Tag an entry. Both must exist here; assigning again is a no-op. Returns the assignment's uuid. */
export const assign = (tag: string, entry: string): TagEffect<string> =>
  Effect.gen(function* () {
    const db = yield* Tidemark.Database
    yield* live(Tag, tag)
    yield* live(Entry, entry)
    const uuid = assignmentUuidOf(tag, entry)
    if (Option.isSome(yield* db.get(TagAssignment, uuid))) return uuid
    yield* db.write(TagAssignment, { tag, entry }, uuid)
    return uuid
  })
