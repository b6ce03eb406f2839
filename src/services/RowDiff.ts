// What `verify` does with each uuid range whose fingerprints differ from a peer's (Reconcile.narrow): walk the
// peer's rows and ours in uuid order side by side, say row by row how they differ (Divergence.ts), and with
// `repair` take the peer's copy where Divergence says so: rows missing here or newer on the peer by the same
// last-writer-wins apply as the pull streams, rows whose contents differ at the same version by
// `Library.repair`. Keeps: without `repair` nothing is written; a repair never moves a cursor, and changes
// only this device (the peer repairs its copies when it verifies against us).
import { Effect } from "effect"
import * as Divergence from "../domain/Divergence.js"
import * as Fingerprint from "../domain/Fingerprint.js"
import { PullRange } from "../domain/Protocol.js"
import type { ResourceType } from "../domain/Resource.js"
import { approximateSize, type Row } from "../domain/Row.js"
import { Kinds } from "./Kinds.js"
import { Library } from "./Library.js"
import { LibraryStore } from "./LibraryStore.js"
import { LocalDevice } from "./LocalDevice.js"
import { checkPage } from "./PageCheck.js"
import type { PeerConnection } from "./PeerTransport.js"
import * as Reconcile from "./Reconcile.js"
import { SyncMetrics } from "./SyncMetrics.js"

/** Differing rows a result lists per kind; without `repair`, looking stops once this many were found. */
export const MAX_LISTED_ROWS = 100

export interface RowDiffResult extends Reconcile.ReconcileResult {
  /** The first MAX_LISTED_ROWS rows found different, in the order found. */
  readonly rows: ReadonlyArray<Divergence.RowDifference>
  /** Rows whose copy was replaced by the peer's (only with `repair`). */
  readonly repaired: number
}

/** Rows of one range in uuid order, read a page at a time; `peek` is the next one, undefined at the end. */
const cursor = <E, R>(
  read: (afterUuid: string) => Effect.Effect<{ rows: ReadonlyArray<Row>; done: boolean }, E, R>
) => {
  let page: ReadonlyArray<Row> = []
  let at = 0
  let done = false
  let after = ""
  return {
    peek: Effect.gen(function* () {
      while (at >= page.length && !done) {
        const next = yield* read(after)
        page = next.rows
        at = 0
        done = next.done || next.rows.length === 0
        if (page.length > 0) after = page[page.length - 1]!.uuid
      }
      return at < page.length ? page[at] : undefined
    }),
    skip: () => {
      at += 1
    }
  }
}

/**
 * Compare one kind's rows with the peer's in the ranges that differ, and with `repair` take the peer's
 * copies Divergence chooses. `limit` is the leaf size of the narrowing and the page size of every read.
 */
export const verifyKind = (conn: PeerConnection, resource: ResourceType, limit: number, repair: boolean) =>
  Effect.gen(function* () {
    const store = yield* LibraryStore
    const library = yield* Library
    const metrics = yield* SyncMetrics
    const devices = { self: (yield* LocalDevice).deviceId as string, peer: conn.peer as string }
    const contents = Fingerprint.contents((yield* Kinds).kind(resource).columns)
    const rows: Array<Divergence.RowDifference> = []
    let repaired = 0

    const examine = (range: Fingerprint.UuidRange) =>
      Effect.gen(function* () {
        let pulled = 0
        const theirs = cursor((afterUuid) =>
          Effect.gen(function* () {
            const page = yield* conn.send(new PullRange({ resource, range, afterUuid, limit }))
            const checked = yield* checkPage(conn, resource, page.rows, limit)
            yield* metrics.received(conn.peer, checked.length, approximateSize(checked))
            pulled += checked.length
            return { rows: checked, done: page.done }
          })
        )
        const ours = cursor((afterUuid) =>
          Effect.map(store.readRange(resource, range, afterUuid, limit), (page) => ({
            rows: page,
            done: page.length < limit
          }))
        )
        const newer: Array<Row> = []
        const replace: Array<Row> = []
        const flush = Effect.gen(function* () {
          yield* library.applyRemote(resource, newer.splice(0))
          repaired += yield* library.repair(resource, replace.splice(0))
        })
        for (;;) {
          if (!repair && rows.length >= MAX_LISTED_ROWS) break
          const a = yield* ours.peek
          const b = yield* theirs.peek
          if (a === undefined && b === undefined) break
          const mine = b === undefined || (a !== undefined && a.uuid <= b.uuid) ? a : undefined
          const peers = a === undefined || (b !== undefined && b.uuid <= a.uuid) ? b : undefined
          if (mine !== undefined) ours.skip()
          if (peers !== undefined) theirs.skip()
          const difference = Divergence.compareRow(mine, peers, devices, contents)
          if (difference === null) continue
          if (rows.length < MAX_LISTED_ROWS) rows.push(difference)
          if (repair && difference.takePeers && peers !== undefined) {
            ;(difference.difference === "contents differ" ? replace : newer).push(peers)
            if (newer.length + replace.length >= limit) yield* flush
          }
        }
        yield* flush
        return pulled
      })

    const narrowed = yield* Reconcile.narrow(conn, resource, limit, (range) =>
      // Without `repair`, once enough rows are listed the other ranges are only counted.
      !repair && rows.length >= MAX_LISTED_ROWS ? Effect.succeed(0) : examine(range)
    )
    return { ...narrowed, pulled: repair ? narrowed.pulled : 0, rows, repaired } satisfies RowDiffResult
  })
