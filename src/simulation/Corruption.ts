// The silent-corruption fault of a simulated run: once the devices have converged, one stored row of one
// device changes in place — a text field edited directly in its database, its version untouched, as a bad
// disk or a hand edit would — and then `verify` must find it (a fingerprint covers each row's contents) and
// repair it (the owner's copy of a device-owned row) before the oracle judges. The row is a copy of a row
// owned by another device that is present to the end, so the owner's copy is the original. Keeps: the choice
// of row depends on the seed and the devices' committed rows only, so a seed replays the same trace.
import { Context, Effect, Schedule } from "effect"
import type { ResourceType } from "../domain/Resource.js"
import type { PeerTransport } from "../services/PeerTransport.js"
import { PeerTransport as PeerTransportTag } from "../services/PeerTransport.js"
import * as RowDiff from "../services/RowDiff.js"
import type { Held } from "./Oracle.js"
import { Prng } from "./Prng.js"
import type { HeldDatabase } from "./SimSqlite.js"
import { SimCatalog } from "./SimSchema.js"

/** What verify needs of a device: its stores and engine services, and a transport to reach the owner. */
export type Needs = Effect.Effect.Context<ReturnType<typeof RowDiff.verifyKind>> | PeerTransport

/** A device as the fault sees it: its committed databases, its address, and its services while it is up. */
export interface Target extends Held {
  readonly address: string
  readonly context: Context.Context<Needs> | undefined
  /** Its SQLite databases; undefined for a hub on PostgreSQL, which is never the corrupted one. */
  readonly sqlite: { readonly library: HeldDatabase } | undefined
}

const VERIFY_BATCH = 1_000

/**
 * Corrupt one row of one device (among `devices`, those present to the end and up), then verify that device
 * against the row's owner: a violation unless verify reports the row; then repair it. Logs to `log`; returns
 * whether a row was corrupted (none is when no device holds a copy of another's row) and the violations.
 */
export const corruptAndRepair = (
  seed: number,
  devices: ReadonlyArray<Target>,
  log: (line: string) => void
): Effect.Effect<{ readonly corrupted: boolean; readonly violations: ReadonlyArray<string> }> =>
  Effect.gen(function* () {
    const candidates: Array<{
      holder: Target
      db: HeldDatabase
      owner: Target
      kind: string
      column: string
      uuid: string
    }> = []
    for (const holder of devices) {
      const db = holder.sqlite?.library
      if (db === undefined) continue
      for (const kind of SimCatalog.kinds) {
        const column = kind.columns.find((c) => c.type === "text" && c.reference === null)
        if (kind.shared || column === undefined) continue
        const rows = holder.library.read<{ uuid: string; owner: string }>(
          `SELECT uuid, owner FROM "${kind.name}" WHERE deleted = 0 AND owner != ? ORDER BY uuid`,
          [holder.id]
        )
        for (const r of rows ?? []) {
          const owner = devices.find((d) => d.id === r.owner)
          if (owner !== undefined)
            candidates.push({ holder, db, owner, kind: kind.name, column: column.name, uuid: r.uuid })
        }
      }
    }
    if (candidates.length === 0) return { corrupted: false, violations: [] }
    const { holder, db, owner, kind, column, uuid } =
      candidates[new Prng(seed ^ 0x5eed).int(0, candidates.length - 1)]!
    if (holder.context === undefined || owner.context === undefined || db.db.inTransaction)
      return { corrupted: false, violations: [] }
    db.db.prepare(`UPDATE "${kind}" SET "${column}" = "${column}" || '~corrupt' WHERE uuid = ?`).run(uuid)
    db.changes++ // the oracle reads a database again only when this moved
    log(
      `corrupt ${holder.name}'s copy of ${kind}/${uuid} (owned by ${owner.name}): ${column} edited in place`
    )

    const verify = (repair: boolean) =>
      Effect.scoped(
        Effect.flatMap(
          Effect.flatMap(PeerTransportTag, (t) => t.connect(owner.address)),
          (conn) => RowDiff.verifyKind(conn, kind as ResourceType, VERIFY_BATCH, repair)
        )
      ).pipe(
        Effect.provide(holder.context!),
        // A device whose clock ran beyond the drift limit during the chaos stays ahead for a moment after
        // healing, and verify refuses its answers as the sync does: try again as the sync's retries do.
        Effect.retry(Schedule.spaced("1 second").pipe(Schedule.intersect(Schedule.recurs(10)))),
        Effect.either
      )
    const found = yield* verify(false)
    const fail = (violation: string) => ({ corrupted: true, violations: [violation] })
    if (found._tag === "Left")
      return fail(`verify of ${holder.name} against ${owner.name} failed: ${found.left.message}`)
    const row = found.right.rows.find((r) => r.uuid === uuid)
    log(
      `verify ${holder.name} against ${owner.name}: ${found.right.rows.map((r) => `${r.uuid} ${r.difference}`).join(", ") || "same"}`
    )
    if (row === undefined || row.difference !== "contents differ" || !row.takePeers)
      return fail(`verify did not report ${holder.name}'s corrupted ${kind}/${uuid} as the owner's to take`)
    const repaired = yield* verify(true)
    if (repaired._tag === "Left")
      return fail(`repair of ${holder.name} from ${owner.name} failed: ${repaired.left.message}`)
    log(`repair ${holder.name} from ${owner.name}: ${repaired.right.repaired} row(s) repaired in place`)
    return { corrupted: true, violations: [] }
  })
