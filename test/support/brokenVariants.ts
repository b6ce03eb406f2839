// Deliberately broken devices, each a bug class the simulator must catch: Layers (and transport wrappers)
// that replace one part of a correct device with the broken behaviour. Test code only.
import { Effect, Layer } from "effect"
import type { Row } from "../../src/domain/Row.js"
import { Exchange, type PeerRequest, type PeerState } from "../../src/domain/Protocol.js"
import * as CheckpointStoreSqlite from "../../src/layers/CheckpointStoreSqlite.js"
import * as LibraryStoreSqlite from "../../src/layers/LibraryStoreSqlite.js"
import { LibraryDb, SyncDb } from "../../src/layers/Sqlite.js"
import * as WatermarkStoreSqlite from "../../src/layers/WatermarkStoreSqlite.js"
import { CheckpointStore } from "../../src/services/CheckpointStore.js"
import { Kinds } from "../../src/services/Kinds.js"
import { LibraryStore } from "../../src/services/LibraryStore.js"
import type { PeerConnection, PeerTransport } from "../../src/services/PeerTransport.js"
import { WatermarkStore } from "../../src/services/WatermarkStore.js"
import { SimCatalog } from "../../src/simulation/SimSchema.js"
import type { Variant } from "../../src/simulation/Variant.js"

/** A transport whose connections run `after` on every answer before the pull stream sees it. */
const onAnswers = (
  inner: PeerTransport["Type"],
  after: (conn: PeerConnection, request: PeerRequest, answer: unknown) => Effect.Effect<unknown, unknown>
): PeerTransport["Type"] => ({
  listen: inner.listen,
  connect: (address) =>
    Effect.map(inner.connect(address), (conn): PeerConnection => ({
      ...conn,
      send: ((request: PeerRequest) =>
        Effect.flatMap(conn.send(request), (answer) =>
          Effect.orElseSucceed(after(conn, request, answer), () => answer)
        )) as PeerConnection["send"]
    }))
})

/** (a) The seed's own bug: one watermark per peer for every device-owned kind (the highest of them). */
export const globalWatermark: Variant = {
  name: "one watermark per peer",
  overrides: (parts) => ({
    watermarks: Layer.effect(
      WatermarkStore,
      Effect.gen(function* () {
        const inner = yield* WatermarkStoreSqlite.make
        const { isShared } = yield* Kinds
        return {
          ...inner,
          get: (peer, resource) =>
            isShared(resource)
              ? inner.get(peer, resource)
              : Effect.map(inner.list, (all) =>
                  Math.max(
                    0,
                    ...all.filter((w) => w.peer === peer && !isShared(w.resource)).map((w) => w.watermark)
                  )
                )
        }
      })
    ).pipe(Layer.provide(Layer.merge(parts.syncDb, parts.device)))
  })
}

/** (b) The watermark advanced when a page arrives, before it is applied. */
export const watermarkBeforeApply: Variant = {
  name: "watermark before apply",
  transport: (inner, watermarks) =>
    onAnswers(inner, (conn, request, answer) =>
      // Owned kinds only: a shared kind's table is paged by a state transfer, not by its watermark.
      request._tag === "Pull" && (request.resource === "note" || request.resource === "file")
        ? Effect.as(
            watermarks.advance(conn.peer, request.resource, (answer as { last: number }).last),
            answer
          )
        : Effect.succeed(answer)
    )
}

/**
 * (c) Live changes advance the watermark by send time: a live page moves the cursor to where the peer stood
 * when it sent the page (its table's end then), not to the seq of the last row the page carries.
 */
export const watermarkBySendTime: Variant = {
  name: "live watermark by send time",
  transport: (inner) =>
    onAnswers(inner, (conn, request, answer) => {
      const page = answer as { rows: ReadonlyArray<Row>; last: number }
      if (request._tag !== "Pull" || request.waitMillis === 0 || page.rows.length === 0)
        return Effect.succeed(answer)
      return Effect.map(conn.send(new Exchange({ holds: [], listen: null })), (state) => ({
        ...page,
        last: Math.max(page.last, state.tables.find((t) => t.resource === request.resource)?.seq ?? 0)
      }))
    })
}

/**
 * (d) Shared-row LWW that trusts the shared log: a row's stored version is what the log still says of it,
 * and a row the log says nothing of (its entries were pruned) is overwritten by whatever arrives.
 */
export const lwwTrustsPrunedLog: Variant = {
  name: "LWW trusts a pruned log",
  libraryStore: (parts) =>
    Layer.effect(
      LibraryStore,
      Effect.gen(function* () {
        const inner = yield* LibraryStoreSqlite.make()
        const library = yield* LibraryDb
        const sync = yield* Effect.provide(SyncDb, parts.syncDb)
        const { isShared } = yield* Kinds
        const logged = (resource: string, uuids: ReadonlyArray<string>) =>
          Effect.map(
            sync.unsafe<{ uuid: string; version: string }>(
              `SELECT record_uuid AS uuid, max(hlc) AS version FROM shared_changes
               WHERE resource_type = ? AND record_uuid IN (${uuids.map(() => "?").join(",")}) GROUP BY record_uuid`,
              [resource, ...uuids]
            ),
            (rows) => new Map(rows.map((r) => [r.uuid, r.version])) as ReadonlyMap<string, string>
          ).pipe(Effect.orDie)
        /** Replace the stored rows outright: the log already decided they win. */
        const overwrite = <A>(resource: string, rows: ReadonlyArray<Row>, apply: Effect.Effect<A, unknown>) =>
          library
            .withTransaction(
              Effect.zipRight(
                library.unsafe(`DELETE FROM "${resource}" WHERE uuid IN (${rows.map(() => "?").join(",")})`, [
                  ...rows.map((r) => r.uuid)
                ]),
                apply
              )
            )
            .pipe(Effect.orDie)
        return {
          ...inner,
          versionsOf: (resource, uuids) =>
            isShared(resource) && uuids.length > 0
              ? logged(resource, uuids)
              : inner.versionsOf(resource, uuids),
          apply: (resource, rows) =>
            isShared(resource) && rows.length > 0
              ? overwrite(resource, rows, inner.apply(resource, rows))
              : inner.apply(resource, rows),
          applyChanged: (resource, rows) =>
            isShared(resource) && rows.length > 0
              ? overwrite(resource, rows, inner.applyChanged(resource, rows))
              : inner.applyChanged(resource, rows)
        } satisfies LibraryStore["Type"]
      })
    )
}

/**
 * (e) A checkpoint saved in a separate transaction from the watermark and counters it describes: the save
 * is handed to a fiber of its own, so it commits on its own, after the progress record's transaction.
 */
export const checkpointApart: Variant = {
  name: "checkpoint in its own transaction",
  overrides: (parts) => ({
    checkpoints: Layer.effect(
      CheckpointStore,
      Effect.map(CheckpointStoreSqlite.make, (inner) => ({
        ...inner,
        save: (peer, resource, progress) =>
          Effect.asVoid(Effect.forkDaemon(Effect.ignore(inner.save(peer, resource, progress))))
      }))
    ).pipe(Layer.provide(parts.syncDb))
  })
}

/**
 * The issue's own mutation: a page's rows committed after its progress record. Each apply of device-owned
 * rows from a peer is handed to a fiber of its own, so the pull stream records the watermark first.
 */
export const applyAfterRecord: Variant = {
  name: "apply after the progress record",
  libraryStore: () =>
    Layer.effect(
      LibraryStore,
      Effect.gen(function* () {
        const inner = yield* LibraryStoreSqlite.make()
        const { isShared } = yield* Kinds
        const later = (effect: Effect.Effect<unknown, unknown>) =>
          Effect.asVoid(Effect.forkDaemon(Effect.ignore(effect)))
        return {
          ...inner,
          apply: (resource, rows, options) =>
            isShared(resource)
              ? inner.apply(resource, rows, options)
              : Effect.as(later(inner.apply(resource, rows, options)), rows.length),
          applyChanged: (resource, rows, options) =>
            isShared(resource)
              ? inner.applyChanged(resource, rows, options)
              : Effect.as(later(inner.applyChanged(resource, rows, options)), [])
        } satisfies LibraryStore["Type"]
      })
    )
}

/**
 * (g) A peer's new or older database goes unnoticed: every answer to an `Exchange` names one store id
 * forever, ends no table (nor the shared log) before what the client holds, and never says `rewound`, so
 * the engine never sees a replaced or restored peer and keeps its cursors into the database that is gone
 * (as if SyncEngine's `replaced || rolledBack` were always false).
 */
export const swapUnnoticed: Variant = {
  name: "a peer's new or older database unnoticed",
  transport: (inner) =>
    onAnswers(inner, (_conn, request, answer) => {
      if (request._tag !== "Exchange") return Effect.succeed(answer)
      const { rewound: _rewound, ...state } = answer as PeerState
      const held = (resource: string) => request.holds.find((h) => h.resource === resource)?.seq ?? 0
      const logHeld = Math.max(
        0,
        ...request.holds.filter((h) => SimCatalog.isShared(h.resource)).map((h) => h.seq)
      )
      return Effect.succeed({
        ...state,
        storeId: "one store forever",
        tables: state.tables.map((t) => ({ ...t, seq: Math.max(t.seq, held(t.resource)) })),
        log: { ...state.log, last: Math.max(state.log.last, logHeld) }
      })
    })
}

/**
 * Every broken variant, by the letter of its bug class: (a)–(e) are the issue's, (f) is the issue's own
 * mutation of PullStream.applyPage, (g) is SyncEngine blind to restored and replaced peers.
 */
export const brokenVariants = {
  a: globalWatermark,
  b: watermarkBeforeApply,
  c: watermarkBySendTime,
  d: lwwTrustsPrunedLog,
  e: checkpointApart,
  f: applyAfterRecord,
  g: swapUnnoticed
} as const
