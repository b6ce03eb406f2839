// The join code: what a new device needs to join a library (its id and secret) in one copy-pasteable string.
// It carries the secret, so it is as sensitive as the secret itself.
import { Either, Schema } from "effect"
import { Uuid } from "./Uuid.js"

const PREFIX = "tidemark1-"

/** What a join code carries: the library's id and secret. */
export const JoinCode = Schema.Struct({
  libraryId: Uuid,
  secret: Schema.String.pipe(Schema.minLength(16))
})
/** See `JoinCode`. */
export type JoinCode = typeof JoinCode.Type

/** The text is not a join code: cut, mistyped or damaged. */
export class InvalidJoinCodeError extends Schema.TaggedError<InvalidJoinCodeError>()("InvalidJoinCodeError", {
  reason: Schema.String
}) {
  get message() {
    return `invalid join code: ${this.reason}`
  }
}

/** The join code of a library: "tidemark1-" and base64url JSON. */
export const encode = (code: JoinCode): string =>
  PREFIX + Buffer.from(JSON.stringify({ l: code.libraryId, s: code.secret })).toString("base64url")

/** The library a join code names, or why it is not one. */
export const decode = (text: string): Either.Either<JoinCode, InvalidJoinCodeError> => {
  const fail = (reason: string) => Either.left(new InvalidJoinCodeError({ reason }))
  const trimmed = text.trim()
  if (!trimmed.startsWith(PREFIX)) return fail(`it should start with "${PREFIX}"`)
  let raw: unknown
  try {
    raw = JSON.parse(Buffer.from(trimmed.slice(PREFIX.length), "base64url").toString("utf8"))
  } catch {
    return fail("it is damaged (not readable)")
  }
  const fields = typeof raw === "object" && raw !== null ? (raw as { l?: unknown; s?: unknown }) : {}
  return Either.mapLeft(
    Schema.decodeUnknownEither(JoinCode)({ libraryId: fields.l, secret: fields.s }),
    () => new InvalidJoinCodeError({ reason: "it is damaged (wrong content)" })
  )
}
