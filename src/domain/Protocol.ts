// The peer protocol, version 2 (version 1's fingerprints covered uuid and version, not contents: the handshake
// refuses the other version, so fingerprints of two formats are never compared). After the handshake
// (domain/Auth.ts) a device sends requests and the peer answers each one; there is no server-side stream
// state: a pull names its cursor every time, so a stream resumes after any disconnect by simply asking again
// from the saved watermark. "Live" sync is the same pull with `waitMillis`: the server holds the request until
// it has rows after the cursor or the wait ends.
import { Schema } from "effect"
import { DeviceId, LibraryId } from "./Ids.js"
import { Fingerprint, UuidRange } from "./Fingerprint.js"
import { ResourceType } from "./Resource.js"
import { Rows } from "./Row.js"

export const PROTOCOL_VERSION = 2

/** Hard limits every device enforces on what it receives. */
export const MAX_PAGE_ROWS = 10_000
export const MAX_FRAME_BYTES = 32 * 1024 * 1024
export const MAX_WAIT_MILLIS = 60_000
/**
 * A server stops adding rows to a page once their approximate size (Resource.rowSize: characters of text)
 * would pass this; a page always holds at least one row, and a row is at most MAX_ROW_SIZE. Even text of
 * 3-byte characters then encodes well below MAX_FRAME_BYTES, whatever the page's row limit.
 */
export const MAX_PAGE_SIZE = 8 * 1024 * 1024
/**
 * `remaining` in a page is exact up to this many rows, so answering a page stays O(page); the exact count
 * of what is pending comes once per session, with the watermark exchange.
 */
export const REMAINING_COUNT_CAP = 10_000

const Cursor = Schema.Int.pipe(Schema.nonNegative())
const Limit = Schema.Int.pipe(Schema.between(1, MAX_PAGE_ROWS))
const WaitMillis = Schema.Int.pipe(Schema.between(0, MAX_WAIT_MILLIS))

/** The peer refused a request (bad arguments, not authenticated, internal failure); says why. */
export class RequestRefused extends Schema.TaggedError<RequestRefused>()("RequestRefused", {
  reason: Schema.String
}) {
  get message() {
    return `the peer refused the request: ${this.reason}`
  }
}

// ---- handshake -------------------------------------------------------------------------------------------

/** Client → server: who I am and a fresh nonce. */
export const Hello = Schema.Struct({
  protocolVersion: Schema.Int,
  libraryId: LibraryId,
  deviceId: DeviceId,
  nonce: Schema.String
})
export type Hello = typeof Hello.Type

/** Server → client: who I am, my nonce, and my proof of the library secret over both nonces. */
export const HelloReply = Schema.Struct({
  protocolVersion: Schema.Int,
  deviceId: DeviceId,
  nonce: Schema.String,
  proof: Schema.String
})
export type HelloReply = typeof HelloReply.Type

/** Client → server: the client's proof of the secret over both nonces. */
export const Authenticate = Schema.Struct({ proof: Schema.String })
export type Authenticate = typeof Authenticate.Type

// ---- requests after the handshake ------------------------------------------------------------------------

export const ResourceSeq = Schema.Struct({ resource: ResourceType, seq: Cursor })
export type ResourceSeq = typeof ResourceSeq.Type

/**
 * The server's shared log: its first and last seq, and `applied`, the seq at or below which every entry's row
 * is in its tables (absent from a server that predates it: a client then uses `last`).
 */
export const LogBounds = Schema.Struct({ first: Cursor, last: Cursor, applied: Schema.optional(Cursor) })

export const ResourceCount = Schema.Struct({ resource: ResourceType, count: Cursor })
export type ResourceCount = typeof ResourceCount.Type

/**
 * What the server holds: the last seq of each of its tables, how many rows of each lie after what the
 * client said it holds, and the range of its shared log.
 */
export const PeerState = Schema.Struct({
  deviceId: DeviceId,
  /** The id of the server's database file: cursors into it are void when it changes. */
  storeId: Schema.String,
  tables: Schema.Array(ResourceSeq),
  pending: Schema.Array(ResourceCount),
  log: LogBounds,
  wallMillis: Schema.Number,
  /**
   * True when the client, in its first exchange with this server since the server's database was opened,
   * holds a position beyond the database's end, or at or above a seq the database handed out since it was
   * opened: the database went back (restored from an older backup), and may since have given those
   * positions to other rows. Absent when false, and from servers that do not check.
   */
  rewound: Schema.optional(Schema.Boolean),
  /**
   * The server process's opening of its stores (a random id): the client remembers it, and names it in its
   * next session's Exchange. Absent from a server that keeps no openings (a hub, or an older version).
   */
  opening: Schema.optional(Schema.String)
})
export type PeerState = typeof PeerState.Type

/**
 * The watermark exchange: "this is what I hold of you, per resource" → "this is what I have". The client
 * starts exactly the streams whose watermark is behind the server's last seq.
 */
export class Exchange extends Schema.TaggedRequest<Exchange>()("Exchange", {
  failure: RequestRefused,
  success: PeerState,
  /**
   * `listen`: where the client itself serves peers, so the server can pull from it too (null: nowhere).
   * `opening`: the server's opening (PeerState.opening) the client last exchanged with, under which every
   * position in `holds` was vouched for; absent when the client has none (a first session, an older client).
   * `resumes`: the highest positions of the client's interrupted backfills from this server, which it resumes
   * from (a checkpoint's cursor in a table, and a state transfer's start in the shared log): cursors too, so
   * they are checked as `holds` are (absent: none, or an older client).
   * `seen`: the highest table end (Page.end) the client was shown beyond a position it then held: the rows
   * it holds below its positions are those of a history that went at least that far, so it is checked as
   * `holds` are (absent: none, or an older client).
   */
  payload: {
    holds: Schema.Array(ResourceSeq),
    listen: Schema.NullOr(Schema.String),
    opening: Schema.optional(Schema.String),
    resumes: Schema.optional(Schema.Struct({ table: Cursor, log: Cursor })),
    seen: Schema.optional(Cursor)
  }
}) {}

/** A page of a table, rows ordered by the server's seq. */
export const Page = Schema.Struct({
  resource: ResourceType,
  rows: Rows,
  /** The server's seq of the last row in the page (the cursor to ask from next); `after` when empty. */
  last: Cursor,
  /** Rows after `last` at the time of the answer (counted up to REMAINING_COUNT_CAP). */
  remaining: Cursor,
  caughtUp: Schema.Boolean,
  /**
   * The table's last seq once the page was read (at least `last`), vouched for like `last`. A row that moved
   * to a new seq before the read is missing below `last`; the client keeps the highest end it was shown and
   * names it (Exchange.seen), so a server restored to before that move is told from the one that made it.
   * Absent from older servers.
   */
  end: Schema.optional(Cursor)
})
export type Page = typeof Page.Type

/** Rows of one table with seq > after. With `waitMillis`, wait for rows when there are none yet. */
export class Pull extends Schema.TaggedRequest<Pull>()("Pull", {
  failure: RequestRefused,
  success: Page,
  payload: { resource: ResourceType, after: Cursor, limit: Limit, waitMillis: WaitMillis }
}) {}

/** A page of the shared log for one shared resource kind. */
export const LogPage = Schema.Struct({
  resource: ResourceType,
  rows: Rows,
  last: Cursor,
  remaining: Cursor,
  caughtUp: Schema.Boolean,
  /** Entries after the cursor were pruned: the client must transfer state instead. Nothing else is set. */
  pruned: Schema.Boolean
})
export type LogPage = typeof LogPage.Type

export class PullLog extends Schema.TaggedRequest<PullLog>()("PullLog", {
  failure: RequestRefused,
  success: LogPage,
  payload: { resource: ResourceType, after: Cursor, limit: Limit, waitMillis: WaitMillis }
}) {}

/** "I hold your shared log up to `seq`": lets the server prune. */
export class Ack extends Schema.TaggedRequest<Ack>()("Ack", {
  failure: RequestRefused,
  success: Schema.Void,
  payload: { seq: Cursor }
}) {}

/** Liveness and clock: answers with the server's wall clock. */
export class Ping extends Schema.TaggedRequest<Ping>()("Ping", {
  failure: RequestRefused,
  success: Schema.Struct({ wallMillis: Schema.Number }),
  payload: {}
}) {}

/**
 * Fingerprints of the server's rows (uuid, version, contents) of one kind over uuid ranges, with the server's last seq read *before*
 * them: a client that holds every row the fingerprints cover may continue that peer's stream from `lastSeq`.
 */
export class Summarize extends Schema.TaggedRequest<Summarize>()("Summarize", {
  failure: RequestRefused,
  success: Schema.Struct({ lastSeq: Cursor, fingerprints: Schema.Array(Fingerprint) }),
  payload: { resource: ResourceType, ranges: Schema.Array(UuidRange).pipe(Schema.maxItems(256)) }
}) {}

/** The server's rows of one kind whose uuid is in [lo, hi) and above `afterUuid`, in uuid order. */
export class PullRange extends Schema.TaggedRequest<PullRange>()("PullRange", {
  failure: RequestRefused,
  success: Schema.Struct({ rows: Rows, done: Schema.Boolean }),
  payload: { resource: ResourceType, range: UuidRange, afterUuid: Schema.String, limit: Limit }
}) {}

/** Every request a peer may send after the handshake; transports derive their tables from this list. */
export const requestClasses = [Exchange, Pull, PullLog, Ack, Ping, Summarize, PullRange] as const

/** Every request a device sends a peer after the handshake. */
export const PeerRequest = Schema.Union(...requestClasses)
export type PeerRequest = typeof PeerRequest.Type
