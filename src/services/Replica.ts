// This device's copy of the library as an application looks at it, whether or not the engine serves and
// syncs right now: who the device is, its sync state (`status`: what the daemon's /status and the CLI's
// `status` show), its coordination stores (`inspect`), and a comparison with a peer (`verify`, which can also
// pull what differs). Keeps: status and inspect only read; verify without `repair` changes nothing, and with
// it applies the peer's rows by the same last-writer-wins apply as the pull streams, never moving a cursor.
import { Context, Effect, Layer } from "effect"
import type { RowDifference } from "../domain/Divergence.js"
import type { StoreError } from "../domain/Errors.js"
import type { UuidRange } from "../domain/Fingerprint.js"
import type { RequestRefused } from "../domain/Protocol.js"
import { HlcClock } from "./HlcClock.js"
import { ClockState, type Inspection, make as makeInspection } from "./Inspect.js"
import { Kinds } from "./Kinds.js"
import { LocalDevice } from "./LocalDevice.js"
import {
  type AuthenticationFailed,
  PeerTransport,
  type PeerUnavailable,
  type ProtocolViolation
} from "./PeerTransport.js"
import type * as Reconcile from "./Reconcile.js"
import * as RowDiff from "./RowDiff.js"
import { make as makeStatus, type StatusReport } from "./StatusReport.js"

/** How one kind compares with the peer's. */
export interface KindComparison {
  readonly kind: string
  /** Both hold the same rows at the same versions with the same contents. */
  readonly same: boolean
  /** Ranges of uuids whose rows differ (0 when `same`). */
  readonly differingRanges: number
  /** The first 100 of those ranges, each [lo, hi) of uuids. */
  readonly ranges: ReadonlyArray<UuidRange>
  /**
   * The first 100 rows found different, each with how ("missing here", "missing on the peer", "newer on
   * the peer", "older on the peer", "contents differ") and whether a repair takes the peer's copy.
   */
  readonly rows: ReadonlyArray<RowDifference>
  /** Rows of the kind the peer holds, tombstones included. */
  readonly peerRows: number
  /** Rows pulled from the peer (only with `repair`). */
  readonly pulled: number
  /** Rows whose contents differed at the same version and were replaced by the peer's copy (only with `repair`). */
  readonly repaired: number
}

/** What `verify` found: the peer's device id and one comparison per kind this device declares. */
export interface Verification {
  readonly peer: string
  readonly kinds: ReadonlyArray<KindComparison>
}

/** Why `verify` could not compare: the peer is unreachable or refused us, or the local store failed. */
export type VerifyError =
  PeerUnavailable | AuthenticationFailed | ProtocolViolation | RequestRefused | StoreError

/** Leaf size of `verify`'s narrowing, and page size of its repair pulls. */
const VERIFY_BATCH = 1_000

/** This device's replica: identity, sync state, coordination stores, comparison with a peer. */
export class Replica extends Context.Tag("tidemark/Replica")<
  Replica,
  {
    /** This device's id. */
    readonly device: string
    /** The library it belongs to. */
    readonly library: string
    /**
     * Peers (address, connected, last seen, last error), watermarks per (peer, kind), unfinished backfills
     * (done, total, rate, ETA), and the persisted record and byte counters per peer.
     */
    readonly status: Effect.Effect<StatusReport, StoreError>
    /**
     * What the coordination store holds, for troubleshooting: watermarks, backfill checkpoints, the shared
     * log's bounds, acknowledgements, the clock's high-water mark, and rows and last seq per kind.
     */
    readonly inspect: Effect.Effect<Inspection, StoreError>
    /**
     * Compare every kind with the peer at `address` by range fingerprints of rows (uuid, version, contents),
     * and list the rows of the ranges that differ. With `repair`, take the peer's copies of the rows that
     * differ where the peer's is the one to keep: rows missing here or newer there (last writer wins), and
     * rows edited in place (same version, other contents) when the peer owns them, or, for shared rows and
     * rows neither owns, when the peer's contents digest is greater. Changes only this device.
     */
    readonly verify: (
      address: string,
      options?: { readonly repair?: boolean }
    ) => Effect.Effect<Verification, VerifyError>
  }
>() {}

/** The replica over the device's stores, its transport and its clock state. */
export const make = Effect.gen(function* () {
  const context = yield* Effect.context<
    | Effect.Effect.Context<typeof makeStatus>
    | Effect.Effect.Context<typeof makeInspection>
    | Reconcile.Deps
    | LocalDevice
    | PeerTransport
  >()
  const { deviceId, libraryId } = yield* LocalDevice
  const catalog = yield* Kinds

  const verify = (address: string, options?: { readonly repair?: boolean }) =>
    Effect.scoped(
      Effect.gen(function* () {
        const conn = yield* Effect.flatMap(PeerTransport, (t) => t.connect(address))
        const kinds = yield* Effect.forEach(catalog.names, (kind) =>
          Effect.map(
            RowDiff.verifyKind(conn, kind, VERIFY_BATCH, options?.repair === true),
            (r): KindComparison => ({
              kind,
              same: r.differingRanges === 0,
              differingRanges: r.differingRanges,
              ranges: r.ranges,
              rows: r.rows,
              peerRows: r.peerRows,
              pulled: r.pulled,
              repaired: r.repaired
            })
          )
        )
        return { peer: conn.peer, kinds }
      })
    ).pipe(Effect.provide(context))

  return Replica.of({
    device: deviceId,
    library: libraryId,
    status: Effect.provide(makeStatus, context),
    inspect: Effect.provide(makeInspection, context),
    verify
  })
})

/** The replica over a device's stores and transport; the clock's persisted state comes from `ClockState`. */
export const layer = Layer.effect(Replica, make)

/** ClockState from the clock itself, for a device whose clock persists nothing (memory storage). */
export const clockStateOfClock: Layer.Layer<ClockState, never, HlcClock> = Layer.effect(
  ClockState,
  Effect.map(HlcClock, (clock) => ClockState.of({ highWaterMillis: Effect.map(clock.last, (h) => h.wall) }))
)
