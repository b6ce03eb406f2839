// Checking a page of rows from a peer before anything of it is applied: no more rows than asked for, every
// row valid for its kind, and the newest version merged into our clock (one beyond the drift limit refuses
// the whole page). A failed check is a ProtocolViolation: the session ends and nothing of the page is kept.
import { Effect, Either } from "effect"
import * as Hlc from "../domain/Hlc.js"
import { validateRow } from "../domain/Catalog.js"
import type { ResourceType } from "../domain/Resource.js"
import { type Row } from "../domain/Row.js"
import { HlcClock } from "./HlcClock.js"
import { Kinds } from "./Kinds.js"
import { type PeerConnection, ProtocolViolation } from "./PeerTransport.js"

export const checkPage = (
  conn: PeerConnection,
  resource: ResourceType,
  rows: ReadonlyArray<Row>,
  limit: number
) =>
  Effect.gen(function* () {
    const violation = (reason: string) => new ProtocolViolation({ peer: conn.peer, reason })
    const kind = (yield* Kinds).kind(resource)
    if (rows.length > limit)
      return yield* violation(`sent ${rows.length} ${resource} rows, more than the ${limit} asked for`)
    const decoded: Array<Row> = []
    let newest: string | undefined
    for (const input of rows) {
      // The transport decoded the envelope by its Schema; what is left is the kind's own rules.
      const row = validateRow(kind, input)
      if (Either.isLeft(row)) return yield* violation(row.left.message)
      decoded.push(row.right)
      if (newest === undefined || row.right.version > newest) newest = row.right.version
    }
    if (newest !== undefined) {
      const clock = yield* HlcClock
      const hlc = Hlc.parse(newest)
      if (Either.isLeft(hlc)) return yield* violation(`unreadable version ${newest}`)
      yield* clock
        .receive(hlc.right)
        .pipe(Effect.catchTag("ClockDriftError", (e) => Effect.fail(violation(e.message))))
    }
    return decoded
  })
