// The serving side of sync: answers an authenticated peer's requests from this device's stores. It holds no
// state per stream: every pull names its cursor, so a peer resumes by asking again. A pull that finds nothing
// waits (long-poll) on the ChangeFeed, so a committed write reaches waiting peers at once.
import { Clock, Effect, Option, Random, type Request } from "effect"
import { UnknownKindError } from "../domain/Errors.js"
import type { DeviceId } from "../domain/Ids.js"
import {
  MAX_PAGE_SIZE,
  type PeerRequest,
  REMAINING_COUNT_CAP,
  RequestRefused,
  type LogPage,
  type Page,
  type PeerState
} from "../domain/Protocol.js"
import type { ResourceType } from "../domain/Resource.js"
import { approximateSize, MAX_ROW_SIZE, rowsWithin, type Row } from "../domain/Row.js"
import { ChangeFeed, waitFor } from "./ChangeFeed.js"
import { Kinds } from "./Kinds.js"
import { LibraryStore } from "./LibraryStore.js"
import { LocalDevice } from "./LocalDevice.js"
import type { PeerHandler } from "./PeerTransport.js"
import { PeerStatus } from "./PeerStatus.js"
import { SharedLog } from "./SharedLog.js"
import { SyncMetrics } from "./SyncMetrics.js"

export interface ServerOptions {
  /** Keep at most this many applied shared-log entries even if a silent peer never acknowledges. */
  readonly logRetention: number
  /** A page ends early rather than pass this approximate size (default MAX_PAGE_SIZE). */
  readonly maxPageSize?: number
  /** A peer told us where it listens: sync from it too (sync is pulled, so each side pulls the other). */
  readonly discovered?: (peer: DeviceId, listen: string) => Effect.Effect<void>
}

export const defaultServerOptions: ServerOptions = { logRetention: 100_000 }

/** More than a row's envelope takes in `rowSize` (uuid, version, owner and 8). */
const ENVELOPE_SIZE = 1_024

const hostOf = (address: string) => address.slice(0, Math.max(0, address.lastIndexOf(":")))
const wildcard = new Set(["0.0.0.0", "::", "[::]", ""])

/**
 * A peer's listen address as we can reach it: one that listens on all interfaces ("0.0.0.0:7470") is
 * reached at the host it connected to us from.
 */
export const reachable = (listen: string, remoteHost: string | undefined): string => {
  const host = hostOf(listen)
  if (!wildcard.has(host) || remoteHost === undefined || remoteHost === "") return listen
  return `${remoteHost}:${listen.slice(listen.lastIndexOf(":") + 1)}`
}

/** A random id of 128 bits in hex, drawn through Effect's Random (so a seeded simulation replays it). */
const randomId = Effect.map(
  Effect.all(Array.from({ length: 8 }, () => Random.nextIntBetween(0, 0x10000))),
  (parts) => parts.map((n) => n.toString(16).padStart(4, "0")).join("")
)

export const makeHandler = (options: ServerOptions = defaultServerOptions) =>
  Effect.gen(function* () {
    const store = yield* LibraryStore
    const log = yield* SharedLog
    const feed = yield* ChangeFeed
    const catalog = yield* Kinds
    const status = yield* PeerStatus
    const metrics = yield* SyncMetrics
    const { deviceId } = yield* LocalDevice
    const maxPageSize = options.maxPageSize ?? MAX_PAGE_SIZE

    /**
     * A peer that told us where it listens is pulled from too — once it has caught up with us on every
     * device-owned kind (it asks with a wait only then): pulling back from a device that is still
     * backfilling from us would only reconcile our own rows against it while it works.
     */
    const toFollow = new Map<DeviceId, string>()
    const liveKinds = new Map<DeviceId, Set<ResourceType>>()
    /** The owned kinds both sides declare, per peer (from its exchange): the ones it pulls from us. */
    const sharedOwnedKinds = new Map<DeviceId, ReadonlyArray<ResourceType>>()
    const followWhenCaughtUp = (peer: DeviceId) =>
      Effect.suspend(() => {
        const listen = toFollow.get(peer)
        const live = liveKinds.get(peer)
        if (listen === undefined || options.discovered === undefined) return Effect.void
        const kinds = sharedOwnedKinds.get(peer) ?? catalog.ownedNames
        if (!kinds.every((r) => live?.has(r))) return Effect.void
        toFollow.delete(peer)
        return options.discovered(peer, listen)
      })

    /** The host each connected peer reached us from: where to find it when it listens on all interfaces. */
    const remoteHosts = new Map<DeviceId, string>()

    const lastSeqs = Effect.forEach(catalog.names, (resource) =>
      Effect.map(store.lastSeq(resource), (seq) => ({ resource, seq }))
    )
    /**
     * This process's opening of its stores (services/Openings.ts), recorded in both files before it
     * answers anything, and how far each has vouched (`served`, of the tables and of the shared log). A
     * position is sent to a peer only once `served` covers it. Only where both stores keep openings.
     */
    const openings =
      store.openings !== undefined && log.openings !== undefined
        ? { tables: store.openings, log: log.openings }
        : undefined
    const opening = openings === undefined ? undefined : yield* randomId
    const served = { tables: 0, log: 0 }
    if (openings !== undefined && opening !== undefined) {
      yield* openings.tables.open(opening)
      yield* openings.log.open(opening)
      served.tables = Option.getOrElse(yield* openings.tables.served(opening), () => 0)
      served.log = Option.getOrElse(yield* openings.log.served(opening), () => 0)
    }
    /** Make `served` cover the positions about to be sent: table seqs up to `tables`, log seqs up to `logSeq`. */
    const cover = (tables: number, logSeq: number) =>
      Effect.gen(function* () {
        if (openings === undefined || opening === undefined) return
        // Fibers vouch concurrently: the cache only ever rises.
        if (tables > served.tables)
          served.tables = Math.max(served.tables, yield* openings.tables.vouch(opening))
        if (logSeq > served.log) served.log = Math.max(served.log, yield* openings.log.vouch(opening))
      })

    /**
     * Whether a position the peer holds is one of a history of our database that is gone (ours was restored
     * from an older backup, and may have given those positions to other rows since). With the opening the
     * peer last exchanged with: a position above what that opening vouched for, as this file remembers it,
     * or any position when this file never had that opening (a backup keeps each opening's `served` at or
     * below its own end). Without one (a first session, an older client), the peers this server has met
     * since it opened are trusted and, until met, a position at or above the first seq handed out since the
     * open (of a table, or of the shared log) is not: a restored device restarted again before such a peer
     * reconnects is then missed. Stores other processes serve too (a hub's) only check the end.
     */
    const met = new Set<DeviceId>()
    const rewound = (
      peer: DeviceId,
      peerOpening: string | undefined,
      holds: ReadonlyArray<{ resource: ResourceType; seq: number }>,
      resumes: { readonly table: number; readonly log: number } | undefined,
      seen: number | undefined,
      ends: ReadonlyArray<{ resource: ResourceType; seq: number }>,
      logEnd: number
    ) =>
      Effect.gen(function* () {
        // Each position with its end: a table's last seq, or the shared log's. An interrupted backfill's
        // cursor, and the highest table end the peer was shown, are checked against the highest table end.
        const tablesEnd = Math.max(0, ...ends.map((t) => t.seq))
        const positions = [
          ...holds.map(({ resource, seq }) => {
            const shared = catalog.isShared(resource)
            return {
              shared,
              seq,
              end: shared ? logEnd : (ends.find((t) => t.resource === resource)?.seq ?? 0)
            }
          }),
          ...(resumes === undefined
            ? []
            : [
                { shared: false, seq: resumes.table, end: tablesEnd },
                { shared: true, seq: resumes.log, end: logEnd }
              ]),
          ...(seen === undefined ? [] : [{ shared: false, seq: seen, end: tablesEnd }])
        ]
        if (openings !== undefined && peerOpening !== undefined) {
          const vouched = {
            tables: yield* openings.tables.served(peerOpening),
            log: yield* openings.log.served(peerOpening)
          }
          return positions.some(({ shared, seq, end }) => {
            const upTo = shared ? vouched.log : vouched.tables
            return seq > end || (seq > 0 && (Option.isNone(upTo) || seq > upTo.value))
          })
        }
        if (met.has(peer)) return false
        const beyond = positions.some(({ shared, seq, end }) => {
          const first = (shared ? log.firstSeqSinceOpen : store.firstSeqSinceOpen)?.()
          return seq > end || (first !== undefined && seq >= first)
        })
        // Met only once its positions are known good (a peer that crashed before forgetting them is told
        // again); a state transfer's exchange holds nothing, and only a session's says what the peer holds.
        if (!beyond && holds.length > 0) met.add(peer)
        return beyond
      })

    const exchange = (
      peer: DeviceId,
      holds: ReadonlyArray<{ resource: ResourceType; seq: number }>,
      peerOpening: string | undefined,
      resumes?: { readonly table: number; readonly log: number },
      seen?: number
    ) =>
      Effect.gen(function* () {
        const tables = yield* lastSeqs
        // What a client holds of a shared kind is a position in our shared log, of an owned kind one in our
        // table. Kinds this device does not declare (another version of the application) are left out.
        const known = holds.filter(({ resource }) => catalog.has(resource))
        const pending = yield* Effect.forEach(known, ({ resource, seq }) =>
          Effect.map(
            catalog.isShared(resource) ? log.countAfter(resource, seq) : store.countAfter(resource, seq),
            (count) => ({
              resource,
              count
            })
          )
        )
        const storeId = yield* store.storeId
        const bounds = yield* log.bounds
        const applied = yield* log.appliedThrough
        const wallMillis = yield* Clock.currentTimeMillis
        const back = yield* rewound(peer, peerOpening, known, resumes, seen, tables, bounds.last)
        // A peer in session holds our log up to its lowest shared position: that is its acknowledgement until
        // it sends one, so pruning waits for it too (a peer is otherwise counted only from its first ack, and
        // one that had not acked yet lost its part of the log and had to transfer state again).
        const sharedHolds = known.filter(({ resource }) => catalog.isShared(resource)).map((h) => h.seq)
        if (!back && sharedHolds.length > 0) yield* log.ack(peer, Math.min(...sharedHolds))
        // The peer records our opening from this answer: every position it holds then (unless told they are
        // gone) and every one this answer gives must be vouched for under it.
        const kept = back ? [] : known
        yield* cover(
          Math.max(
            0,
            ...tables.map((t) => t.seq),
            ...kept.filter((h) => !catalog.isShared(h.resource)).map((h) => h.seq)
          ),
          Math.max(
            bounds.last,
            applied,
            ...kept.filter((h) => catalog.isShared(h.resource)).map((h) => h.seq)
          )
        )
        return {
          deviceId,
          storeId,
          tables,
          pending,
          log: { first: bounds.first, last: bounds.last, applied },
          wallMillis,
          ...(back ? { rewound: true } : {}),
          ...(opening === undefined ? {} : { opening })
        } satisfies PeerState
      })

    /**
     * Whether a page holds every row there was after its cursor: fewer rows than asked for, and too small
     * for the size limit to have cut it short (the next row would have fit: a row's fields are at most
     * MAX_ROW_SIZE, its envelope a few hundred characters).
     */
    const readAll = (rows: ReadonlyArray<Row>, limit: number) =>
      rows.length < limit && approximateSize(rows) + MAX_ROW_SIZE + ENVELOPE_SIZE <= maxPageSize

    /** Read; if nothing is there and the peer is willing to wait, wait for the next commit and read again. */
    const readOrWait = <A, E>(
      resource: ResourceType,
      read: Effect.Effect<A, E>,
      isEmpty: (a: A) => boolean,
      waitMillis: number
    ) =>
      Effect.gen(function* () {
        const signal = yield* feed.next(resource)
        const first = yield* read
        if (!isEmpty(first) || waitMillis === 0) return first
        return (yield* waitFor(signal, waitMillis)) ? yield* read : first
      })

    const pull = (request: Extract<PeerRequest, { _tag: "Pull" }>) =>
      Effect.gen(function* () {
        const { resource, after, limit, waitMillis } = request
        const { rows, last } = yield* readOrWait(
          resource,
          store.readPage(resource, after, limit, maxPageSize),
          (page) => page.rows.length === 0,
          waitMillis
        )
        // A page that read everything after its cursor had nothing remaining when it was read: no count
        // (a statement fewer for every live page). A commit after the read is the next page's, as it would
        // be after a count.
        const all = readAll(rows, limit)
        const remaining = all ? 0 : yield* store.countAfter(resource, last, REMAINING_COUNT_CAP)
        // The table's end once the page was read: `last` itself when the page read everything after its
        // cursor (nothing was beyond it), else read now (a commit since only raises it).
        const end = all ? last : yield* store.lastSeq(resource)
        yield* cover(end, 0)
        return {
          resource,
          rows,
          last,
          remaining,
          caughtUp: remaining === 0,
          end
        } satisfies Page
      })

    const pullLog = (request: Extract<PeerRequest, { _tag: "PullLog" }>) =>
      Effect.gen(function* () {
        const { resource, after, limit, waitMillis } = request
        const pruned = {
          resource,
          rows: [],
          last: after,
          remaining: 0,
          caughtUp: false,
          pruned: true
        } satisfies LogPage
        if (after < (yield* log.bounds).prunedThrough) return pruned
        const page = yield* readOrWait(
          resource,
          log.readResource(resource, after, limit),
          (p) => p.entries.length === 0,
          waitMillis
        )
        // Looked at again after the read: a prune that committed meanwhile (another peer's ack, here or in
        // another process of a hub, while this pull waited) removed entries the page would hold, and the
        // page's cursor would pass them unseen. Pruning records how far it went in the same transaction as
        // the delete, so it shows here; the peer then transfers state again.
        if (after < (yield* log.bounds).prunedThrough) return pruned
        const kept = rowsWithin(
          page.entries.map((e) => e.row),
          maxPageSize
        )
        const through = kept < page.entries.length ? page.entries[kept - 1]!.seq : page.through
        const remaining = yield* log.countAfter(resource, through)
        yield* cover(0, through)
        return {
          resource,
          rows: page.entries.slice(0, kept).map((e) => e.row),
          last: through,
          remaining,
          caughtUp: remaining === 0,
          pruned: false
        } satisfies LogPage
      })

    const ack = (peer: DeviceId, seq: number) =>
      Effect.gen(function* () {
        yield* log.ack(peer, seq)
        const acked = yield* log.acks
        const pruned = yield* log.prune([...acked.keys()], options.logRetention)
        if (pruned > 0) yield* Effect.logDebug(`Pruned ${pruned} shared-log entries every peer has`)
      })

    const answer = (peer: DeviceId, request: PeerRequest): Effect.Effect<unknown, unknown> => {
      switch (request._tag) {
        case "Exchange":
          if (request.listen !== null) toFollow.set(peer, reachable(request.listen, remoteHosts.get(peer)))
          // A state transfer asks with no holds: only a session's exchange says which kinds the peer has.
          if (request.holds.length > 0) {
            sharedOwnedKinds.set(
              peer,
              catalog.ownedNames.filter((r) => request.holds.some((h) => h.resource === r))
            )
          }
          return Effect.zipLeft(
            exchange(peer, request.holds, request.opening, request.resumes, request.seen),
            followWhenCaughtUp(peer)
          )
        case "Pull":
          if (request.waitMillis > 0)
            liveKinds.set(peer, (liveKinds.get(peer) ?? new Set()).add(request.resource))
          // Before answering: a live pull may wait for a long time.
          return Effect.zipRight(followWhenCaughtUp(peer), pull(request))
        case "PullLog":
          return pullLog(request)
        case "Ack":
          return ack(peer, request.seq)
        case "Ping":
          return Effect.map(Clock.currentTimeMillis, (wallMillis) => ({ wallMillis }))
        case "Summarize":
          // The last seq first: every change after it has a higher seq, so fingerprints taken later
          // can only cover more than the client will skip, never less.
          return Effect.gen(function* () {
            const lastSeq = yield* store.lastSeq(request.resource)
            const fingerprints = yield* Effect.forEach(request.ranges, (range) =>
              store.fingerprint(request.resource, range)
            )
            yield* cover(lastSeq, 0)
            return { lastSeq, fingerprints }
          })
        case "PullRange":
          return Effect.map(
            store.readRange(request.resource, request.range, request.afterUuid, request.limit),
            (rows) => {
              const kept = rowsWithin(rows, maxPageSize)
              return kept < rows.length
                ? { rows: rows.slice(0, kept), done: false }
                : { rows, done: rows.length < request.limit }
            }
          )
      }
    }

    /** A request for a kind this device does not declare is refused; the client's other streams go on. */
    const checked = (peer: DeviceId, request: PeerRequest): Effect.Effect<unknown, unknown> =>
      "resource" in request && !catalog.has(request.resource)
        ? Effect.fail(new UnknownKindError({ kind: request.resource }))
        : answer(peer, request)

    const handle = <R extends PeerRequest>(peer: DeviceId, request: R) =>
      checked(peer, request).pipe(
        Effect.tap((answer) => {
          const rows = (answer as { rows?: ReadonlyArray<Row> } | undefined)?.rows
          return Effect.zipRight(
            status.seen(peer),
            rows === undefined || rows.length === 0
              ? Effect.void
              : metrics.sent(peer, rows.length, approximateSize(rows))
          )
        }),
        Effect.catchAll((e) =>
          Effect.zipRight(
            Effect.logWarning(
              `Could not answer ${request._tag} from ${peer}: ${String((e as Error).message ?? e)}`
            ),
            Effect.fail(
              new RequestRefused({
                reason: `${request._tag} failed on the peer: ${String((e as Error).message ?? e)}`
              })
            )
          )
        )
      ) as Effect.Effect<Request.Request.Success<R>, RequestRefused>

    return {
      handle,
      connected: (peer, address) =>
        Effect.zipRight(
          Effect.zipRight(
            Effect.sync(() => remoteHosts.set(peer, hostOf(address))),
            status.connected(peer, address)
          ),
          Effect.logInfo(`Peer ${peer} connected from ${address}`)
        ),
      disconnected: (peer, address) =>
        Effect.zipRight(
          status.disconnected(peer, address),
          Effect.logInfo(`Peer ${peer} (${address}) disconnected`)
        )
    } satisfies PeerHandler
  })
