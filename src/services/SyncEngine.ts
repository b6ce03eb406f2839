// Runs sync for one device: serves its peers, and for every peer address it knows keeps a session going —
// connect and authenticate, exchange watermarks, run one pull stream per resource kind — reconnecting with
// capped, jittered exponential backoff when the session fails. All state that matters is in the stores, so
// a new session simply resumes every stream from its watermark.
import { Cause, Clock, Duration, Effect, Exit, Option, Random } from "effect"
import { SessionDefect } from "../domain/Errors.js"
import type { DeviceId } from "../domain/Ids.js"
import { Exchange, type PeerState } from "../domain/Protocol.js"
import type { Catalog } from "../domain/Catalog.js"
import type { ResourceType } from "../domain/Resource.js"
import * as BackfillCoordinator from "./BackfillCoordinator.js"
import { CheckpointStore } from "./CheckpointStore.js"
import { Kinds } from "./Kinds.js"
import { sampleClock } from "./LiveMetrics.js"
import { LocalDevice } from "./LocalDevice.js"
import { PeerStatus } from "./PeerStatus.js"
import { PeerTransport, PeerUnavailable } from "./PeerTransport.js"
import * as PullStream from "./PullStream.js"
import * as SyncServer from "./SyncServer.js"
import { WatermarkStore } from "./WatermarkStore.js"

/** How the engine pulls and reconnects: page size, live wait, backoff (defaults: `defaultEngineOptions`). */
export interface EngineOptions extends PullStream.StreamOptions {
  readonly reconnectBaseMillis: number
  readonly reconnectCapMillis: number
  readonly server?: SyncServer.ServerOptions
  /**
   * How long a new device waits for its peers to connect before it splits its backfill among them (less
   * when every configured peer has connected and asked for the kind).
   */
  readonly spreadSettleMillis?: number
}

/** The engine's defaults: pages of 10,000 rows, a 20 s live wait, reconnects from 250 ms to 30 s. */
export const defaultEngineOptions: EngineOptions = {
  // Each page is one transaction on the receiver, and random uuids make a transaction's cost mostly the
  // index pages it dirties: pages of 10,000 backfill 1M entries about 1.2× faster than pages of 5,000 and
  // 1.5× faster than pages of 1,000 (docs/benchmarks.md). Pages are also bounded by size (MAX_PAGE_SIZE).
  batchSize: 10_000,
  liveWaitMillis: 20_000,
  reconnectBaseMillis: 250,
  reconnectCapMillis: 30_000,
  // A peer's first exchange counts every row it has to send: with a million, that alone can take longer
  // than half a second. Waiting matters only while a configured peer has not connected yet.
  spreadSettleMillis: 2_000
}

/** One session with the peer at `address`; ends only by failing (or by interruption). */
const session = (address: string, options: EngineOptions, self: Self) =>
  Effect.scoped(
    Effect.gen(function* () {
      const transport = yield* PeerTransport
      const watermarks = yield* WatermarkStore
      const checkpoints = yield* CheckpointStore
      const status = yield* PeerStatus
      const { deviceId } = yield* LocalDevice
      const catalog = yield* Kinds
      const conn = yield* transport.connect(address)
      if (conn.peer === deviceId) {
        return yield* new PeerUnavailable({ address, reason: "that address is this device itself" })
      }
      // One session per peer device: a device reached at several addresses (the processes of a hub) is
      // pulled through one of them at a time. The others keep retrying, so when that one fails, another
      // takes over from the same watermarks and checkpoints.
      const claimed = yield* Effect.acquireRelease(
        Effect.sync(() => {
          if (self.pulling.has(conn.peer)) return false
          self.pulling.add(conn.peer)
          return true
        }),
        (claimed) => Effect.sync(() => (claimed ? self.pulling.delete(conn.peer) : undefined))
      )
      if (!claimed) {
        return yield* new PeerUnavailable({
          address,
          reason: `already syncing with ${conn.peer} at another of its addresses`
        })
      }
      yield* Effect.acquireRelease(status.connected(conn.peer, address), (_, exit) =>
        status.disconnected(conn.peer, address, failureMessage(exit))
      )
      const holds = yield* Effect.forEach(catalog.names, (resource) =>
        Effect.map(watermarks.get(conn.peer, resource), (seq) => ({ resource, seq }))
      )
      // The peer's opening we last exchanged with: it vouched for every position we hold of it, the cursors
      // of interrupted backfills we will resume from included (a state transfer's log start was taken from
      // a database the peer may no longer have).
      const opening =
        watermarks.peerOpening === undefined ? Option.none() : yield* watermarks.peerOpening(conn.peer)
      const interrupted = (yield* checkpoints.list).filter((c) => c.peer === conn.peer)
      // The highest table end the peer showed us beyond our positions: checked against what that opening
      // vouched for, so named with it only.
      const seen =
        watermarks.peerSeen === undefined || Option.isNone(opening)
          ? 0
          : yield* watermarks.peerSeen(conn.peer)
      let state = yield* conn.send(
        new Exchange({
          holds,
          listen: self.listen,
          ...Option.match(opening, { onNone: () => ({}), onSome: (o) => ({ opening: o }) }),
          ...(seen > 0 ? { seen } : {}),
          ...(interrupted.length === 0
            ? {}
            : {
                resumes: {
                  table: Math.max(...interrupted.map((c) => c.cursor)),
                  log: Math.max(...interrupted.map((c) => c.logStart))
                }
              })
        })
      )
      const replaced = yield* watermarks.rebase(conn.peer, state.storeId)
      // We hold positions past the peer's end: its database went back (restored from a backup). Only kinds
      // the peer declares count: for another kind its end is unknown, not 0. The peer also says so itself
      // (`rewound`) when a position of ours is one of its database's history that is gone (beyond what the
      // opening we name vouched for, as its file remembers it): the same, although it has got past our
      // positions again.
      const declared = (resource: ResourceType) => state.tables.some((t) => t.resource === resource)
      const rolledBack =
        state.rewound === true ||
        holds.some(({ resource, seq }) => declared(resource) && seq > peerEnd(catalog, state, resource))
      if (replaced || rolledBack) {
        // Our cursors point into data the peer no longer has: start over from what it has now (streams
        // reconcile what we already hold instead of pulling it all again). The checkpoints go too, whatever
        // store holds them (an application's own CheckpointStore included): they are cursors as well.
        if (rolledBack) yield* watermarks.forget(conn.peer)
        const stale = (yield* checkpoints.list).filter((c) => c.peer === conn.peer)
        yield* Effect.forEach(stale, (c) => checkpoints.clear(conn.peer, c.resource), { discard: true })
        yield* Effect.logWarning(
          `Peer ${conn.peer} has ${replaced ? "a new" : "an older"} database (it was replaced or restored): forgetting its old positions and reconciling`
        )
        state = yield* conn.send(
          new Exchange({
            holds: catalog.names.map((resource) => ({ resource, seq: 0 })),
            listen: self.listen
          })
        )
      }
      // Before any watermark of this session advances: every position from now on is vouched for under the
      // peer's present opening (a peer that keeps none clears it).
      if (watermarks.recordOpening !== undefined) yield* watermarks.recordOpening(conn.peer, state.opening)
      yield* Effect.forkScoped(sampleClock(conn))
      const behind = state.pending.filter((p) => p.count > 0)
      const resumed = yield* checkpoints.list
      yield* Effect.logInfo(
        behind.length === 0
          ? `Connected to ${conn.peer} at ${address}: up to date`
          : `Connected to ${conn.peer} at ${address}: ${behind.map((b) => `${b.count} ${b.resource} ${b.count === 1 ? "row" : "rows"}`).join(", ")} to pull` +
              (resumed.some((c) => c.peer === conn.peer) ? " (resuming an interrupted backfill)" : "")
      )
      // Only kinds both devices declare are synced: a kind added by a newer version of the application
      // waits until the peer declares it too.
      const common = catalog.names.filter((resource) => state.tables.some((t) => t.resource === resource))
      const missing = catalog.names.filter((resource) => !common.includes(resource))
      if (missing.length > 0) {
        yield* Effect.logWarning(
          `Peer ${conn.peer} does not declare ${missing.join(", ")}: not syncing them with it`
        )
      }
      return yield* Effect.all(
        common.map((resource) =>
          PullStream.run(
            conn,
            resource,
            options,
            state.pending.find((p) => p.resource === resource)?.count ?? 0,
            state.tables.find((t) => t.resource === resource)?.seq
          )
        ),
        { concurrency: "unbounded", discard: true }
      ).pipe(Effect.zipRight(Effect.never))
    })
  )

/** The peer's last position for a kind: its table's last seq, or its shared log's for a shared kind. */
const peerEnd = (catalog: Catalog, state: PeerState, resource: ResourceType) =>
  catalog.isShared(resource) ? state.log.last : (state.tables.find((t) => t.resource === resource)?.seq ?? 0)

/** What ended a session, for the peer's "last error" (nothing when it was only interrupted). */
const failureMessage = (exit: Exit.Exit<unknown, unknown>): string | undefined => {
  if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return undefined
  const error = Cause.squash(exit.cause)
  return error instanceof Error ? error.message : String((error as { message?: unknown })?.message ?? error)
}

/** What sessions share about this device: where it listens, and which peers it is pulling from now. */
interface Self {
  readonly listen: string | null
  readonly pulling: Set<DeviceId>
}

/**
 * The wait before reconnecting after `failures` sessions in a row that failed soon after they began:
 * doubling from the base, capped, jittered by ±20 % (through Effect's Random) so devices that lost one peer
 * together do not come back in step.
 */
const reconnectDelay = (options: EngineOptions, failures: number) =>
  Effect.map(Random.next, (r) => {
    const exponential = options.reconnectBaseMillis * 2 ** Math.min(failures - 1, 30)
    return Math.min(options.reconnectCapMillis, exponential) * (0.8 + 0.4 * r)
  })

/** Keep syncing with the peer at `address` until interrupted. */
export const syncWith = (
  address: string,
  options: EngineOptions = defaultEngineOptions,
  self: Self = { listen: null, pulling: new Set() }
) => {
  const attempt = session(address, options, self).pipe(
    // A defect must not end sync with this peer for good: log it with its stack, then reconnect.
    Effect.catchAllDefect((defect) =>
      Effect.zipRight(
        Effect.logError(`Sync with ${address} hit an unexpected error`, Cause.die(defect)),
        Effect.fail(new SessionDefect({ reason: defect instanceof Error ? defect.message : String(defect) }))
      )
    ),
    Effect.tapError((e) => Effect.logWarning(`Sync with ${address} stopped: ${e.message}; reconnecting`)),
    Effect.flip
  )
  return Effect.gen(function* () {
    let failures = 0
    for (;;) {
      const started = yield* Clock.currentTimeMillis
      yield* attempt
      // A session that stayed up at least as long as the longest wait starts the backoff over; sessions that
      // fail soon after they begin (a peer that is gone, or refuses us) wait longer each time, up to the cap,
      // however long that goes on.
      const lasted = (yield* Clock.currentTimeMillis) - started
      failures = lasted >= options.reconnectCapMillis ? 1 : failures + 1
      yield* Effect.sleep(Duration.millis(yield* reconnectDelay(options, failures)))
    }
  })
}

/**
 * Serve peers at `listen` and sync with each of `peers`, until the scope closes. Returns the bound address.
 * A peer that connects and says where it listens is pulled from too, so one `--peer` on either side is
 * enough for both to sync.
 */
export const start = (config: {
  readonly listen: string
  readonly peers: ReadonlyArray<string>
  readonly options?: EngineOptions
}) =>
  Effect.gen(function* () {
    const options = config.options ?? defaultEngineOptions
    const scope = yield* Effect.scope
    const transport = yield* PeerTransport
    // Waiting for peers to connect before splitting the backfill only helps when there are several.
    const coordinator = yield* BackfillCoordinator.make(
      config.peers.length > 1 ? (options.spreadSettleMillis ?? 0) : 0,
      (yield* CheckpointStore).ranges,
      // Once every configured peer asks for a kind, it is decided at once.
      config.peers.length
    )
    const context =
      yield* Effect.context<
        Exclude<Effect.Effect.Context<ReturnType<typeof syncWith>>, BackfillCoordinator.BackfillCoordinator>
      >()
    const addresses = new Set<string>()
    const self = { listen: null as string | null, pulling: new Set<DeviceId>() }
    const follow = (address: string) =>
      Effect.suspend(() => {
        if (addresses.has(address) || address === self.listen) return Effect.void
        addresses.add(address)
        return syncWith(address, options, self).pipe(
          Effect.provideService(BackfillCoordinator.BackfillCoordinator, coordinator),
          Effect.provide(context),
          Effect.forkIn(scope),
          Effect.asVoid
        )
      })
    const handler = yield* SyncServer.makeHandler({
      ...SyncServer.defaultServerOptions,
      ...options.server,
      discovered: (peer, listen) =>
        self.pulling.has(peer) || addresses.has(listen)
          ? Effect.void
          : Effect.zipRight(
              Effect.logInfo(`Peer ${peer} listens at ${listen}: pulling from it too`),
              follow(listen)
            )
    })
    const bound = yield* transport.listen(config.listen, handler)
    self.listen = bound
    yield* Effect.logInfo(`Listening for peers at ${bound}`)
    for (const peer of config.peers) yield* follow(peer)
    return bound
  })
