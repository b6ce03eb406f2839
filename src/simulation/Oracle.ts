// The oracle: what must hold of the devices' committed state, read straight from the SQLite databases the
// simulator holds (never through the engine it judges). At every crash point: no watermark or checkpoint is
// ahead of the data it describes, the progress record is whole, and at most two pages per stream would be
// received again. After healing: every device holds the same rows, and they are the last-writer-wins merge
// of every acknowledged write (nothing acknowledged lost, no deleted row back). What a restored or replaced
// database may legitimately lose, and which cursors it leaves stale, is `Restores.ts`'s to say.
import type { Catalog } from "../domain/Catalog.js"

/** A database the oracle reads with SQLite's SQL: committed rows only, undefined while a transaction is open. */
export interface Readable {
  readonly read: <A>(sql: string, params?: ReadonlyArray<unknown>) => ReadonlyArray<A> | undefined
  /** Moves whenever what the database holds may have changed: no need to read it again while it stands. */
  readonly changes: number
  readonly inTransaction: boolean
}

/** A device as the oracle sees it: its id and its two databases. */
export interface Held {
  readonly name: string
  readonly id: string
  readonly library: Readable
  readonly sync: Readable
}

type Watermark = { peer: string; resource: string; w: number }
type Checkpoint = { peer: string; resource: string; cursor: number }

const table = (kind: string) => `"${kind}"`

const watermarksOf = (d: Held) =>
  d.sync.read<Watermark>(
    "SELECT peer_device_uuid AS peer, resource_type AS resource, last_watermark AS w FROM device_resource_watermarks WHERE device_uuid = ?",
    [d.id]
  )

const checkpointsOf = (d: Held) =>
  d.sync.read<Checkpoint>(
    "SELECT peer_device_uuid AS peer, resource_type AS resource, cursor FROM backfill_checkpoints"
  )

/** Rows of `peer`'s table with seq in (after, through] that `device` does not hold at least as new. */
const missingRows = (catalogKind: string, peer: Held, device: Held, after: number, through: number) => {
  const rows = peer.library.read<{ uuid: string; version: string }>(
    `SELECT uuid, version FROM ${table(catalogKind)} WHERE seq > ? AND seq <= ?`,
    [after, through]
  )
  if (rows === undefined) return []
  return rows.filter((r) => {
    // The newest row of the uuid: while a bulk load is under way a uuid may be stored more than once.
    const held = device.library.read<{ version: string | null }>(
      `SELECT max(version) AS version FROM ${table(catalogKind)} WHERE uuid = ?`,
      [r.uuid]
    )
    const version = held?.[0]?.version
    return held !== undefined && (version === undefined || version === null || version < r.version)
  })
}

/** Entries of `peer`'s shared log of `kind` with seq <= through whose row `device` does not hold as new. */
const missingLogEntries = (kind: string, peer: Held, device: Held, through: number) => {
  const entries = peer.sync.read<{ uuid: string; hlc: string }>(
    "SELECT record_uuid AS uuid, hlc FROM shared_changes WHERE resource_type = ? AND seq <= ?",
    [kind, through]
  )
  if (entries === undefined) return []
  return entries.filter((e) => {
    // The newest row of the uuid: while a bulk load is under way a uuid may be stored more than once.
    const held = device.library.read<{ version: string | null }>(
      `SELECT max(version) AS version FROM ${table(kind)} WHERE uuid = ?`,
      [e.uuid]
    )
    const version = held?.[0]?.version
    return held !== undefined && (version === undefined || version === null || version < e.hlc)
  })
}

/**
 * No cursor of `device` is ahead of the data it describes: every row of a peer at or below a watermark (or
 * a checkpoint's cursor) is on the device at least as new, and likewise every shared-log entry of the peer
 * at or below a shared kind's watermark. Also: a device-owned kind's checkpoint and watermark moved
 * together (they are one progress record).
 */
export const cursorsBehindData = (
  catalog: Catalog,
  device: Held,
  peers: ReadonlyArray<Held>
): Array<string> => {
  const violations: Array<string> = []
  const byId = new Map(peers.map((p) => [p.id, p]))
  const marks = watermarksOf(device) ?? []
  const checkpoints = checkpointsOf(device) ?? []
  for (const { peer: peerId, resource, w } of marks) {
    const peer = byId.get(peerId)
    if (peer === undefined || !catalog.has(resource)) continue
    if (catalog.isShared(resource)) {
      const missing = missingLogEntries(resource, peer, device, w)
      if (missing.length > 0)
        violations.push(
          `${device.name}'s ${resource} watermark ${w} for ${peer.name} is ahead of its data: ${missing.length} log entr(ies) up to it are not held (first ${missing[0]!.uuid}@${missing[0]!.hlc})`
        )
    } else {
      const missing = missingRows(resource, peer, device, 0, w)
      if (missing.length > 0)
        violations.push(
          `${device.name}'s ${resource} watermark ${w} for ${peer.name} is ahead of its data: ${missing.length} row(s) up to it are not held (first ${missing[0]!.uuid}@${missing[0]!.version})`
        )
    }
  }
  for (const { peer: peerId, resource, cursor } of checkpoints) {
    const peer = byId.get(peerId)
    if (peer === undefined || !catalog.has(resource)) continue
    const missing = missingRows(resource, peer, device, 0, cursor)
    if (missing.length > 0)
      violations.push(
        `${device.name}'s ${resource} checkpoint ${cursor} for ${peer.name} is ahead of its data: ${missing.length} row(s) up to it are not held`
      )
    if (!catalog.isShared(resource)) {
      const w = marks.find((m) => m.peer === peerId && m.resource === resource)?.w ?? 0
      if (w !== cursor)
        violations.push(
          `${device.name}'s progress record for ${resource} from ${peer.name} is torn: checkpoint at ${cursor}, watermark at ${w}`
        )
    }
  }
  return violations
}

/** Where a stream of a device stood: the furthest page it was sent, by (peer, kind, table or log). */
export interface Delivered {
  readonly peer: string
  readonly resource: string
  readonly space: "table" | "log"
  readonly last: number
  /**
   * For a device-owned kind's table: of every page with rows the stream was sent, by the seq it ended at,
   * whether it was caught up (the latest page sent to end there).
   */
  readonly caughtUpAt?: ReadonlyMap<number, boolean>
}

/**
 * How many rows each stream would receive again after a crash: the peer's rows (or log entries) between the
 * device's durable cursor and the furthest page it had been sent. Returns the streams above `bound`.
 */
export const receivedAgain = (
  catalog: Catalog,
  device: Held,
  peers: ReadonlyArray<Held>,
  delivered: ReadonlyArray<Delivered>,
  bound: number
): Array<string> => {
  const violations: Array<string> = []
  const byId = new Map(peers.map((p) => [p.id, p]))
  const marks = watermarksOf(device) ?? []
  const checkpoints = checkpointsOf(device) ?? []
  for (const d of delivered) {
    const peer = byId.get(d.peer)
    if (peer === undefined) continue
    const w = marks.find((m) => m.peer === d.peer && m.resource === d.resource)?.w ?? 0
    let again: number | undefined
    if (d.space === "log") {
      again = peer.sync.read<{ n: number }>(
        "SELECT count(*) AS n FROM shared_changes WHERE resource_type = ? AND seq > ? AND seq <= ?",
        [d.resource, w, d.last]
      )?.[0]?.n
    } else {
      // A shared kind's table is paged only by a state transfer, whose cursor is its checkpoint's.
      const cursor = catalog.isShared(d.resource)
        ? checkpoints.find((c) => c.peer === d.peer && c.resource === d.resource)?.cursor
        : w
      if (cursor === undefined) continue
      again = peer.library.read<{ n: number }>(
        `SELECT count(*) AS n FROM ${table(d.resource)} WHERE seq > ? AND seq <= ?`,
        [cursor, d.last]
      )?.[0]?.n
    }
    if (again !== undefined && again > bound)
      violations.push(
        `${device.name} would receive ${again} ${d.resource} rows of ${peer.name}'s ${d.space} again after its crash (more than ${bound}: two pages)`
      )
  }
  return violations
}

/**
 * A backfill that is not caught up keeps its checkpoint at its watermark: when a device-owned kind's
 * watermark stands at the end of a page it was sent with rows still remaining, the checkpoint the same
 * progress record saved must be there, at that cursor. (The torn-record check of `cursorsBehindData` sees a
 * checkpoint at another cursor; this one sees a checkpoint missing, as when the first page's record
 * committed without it.)
 */
export const checkpointsAtWatermarks = (
  catalog: Catalog,
  device: Held,
  peers: ReadonlyArray<Held>,
  delivered: ReadonlyArray<Delivered>
): Array<string> => {
  const violations: Array<string> = []
  const marks = watermarksOf(device) ?? []
  const checkpoints = checkpointsOf(device) ?? []
  for (const d of delivered) {
    if (d.space !== "table" || d.caughtUpAt === undefined || catalog.isShared(d.resource)) continue
    const w = marks.find((m) => m.peer === d.peer && m.resource === d.resource)?.w ?? 0
    if (w === 0 || d.caughtUpAt.get(w) !== false) continue
    if (!checkpoints.some((c) => c.peer === d.peer && c.resource === d.resource)) {
      const peer = peers.find((p) => p.id === d.peer)?.name ?? d.peer
      violations.push(
        `${device.name}'s ${d.resource} watermark for ${peer} is at ${w}, the end of a page sent with rows remaining, but no checkpoint was saved with it`
      )
    }
  }
  return violations
}

/** A device's rows, every kind, without its local seq: equal on every device once converged. */
export const dump = (catalog: Catalog, device: Held): Array<string> | undefined => {
  const lines: Array<string> = []
  for (const kind of [...catalog.kinds].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const columns = ["uuid", "version", "deleted", "owner", ...kind.columns.map((c) => `"${c.name}"`)]
    const rows = device.library.read<Record<string, unknown>>(
      `SELECT ${columns.join(", ")} FROM ${table(kind.name)} ORDER BY uuid`
    )
    if (rows === undefined) return undefined
    for (const r of rows) lines.push(JSON.stringify({ kind: kind.name, ...r }))
  }
  return lines
}

/** A row a device wrote: acknowledged (its write returned it) or in doubt (the device crashed first). */
export interface Written {
  readonly kind: string
  readonly uuid: string
  readonly device: string
  readonly deleted: boolean
  /** The fields written (unknown for an in-doubt delete, which keeps whatever the row held). */
  readonly fields: Record<string, unknown> | undefined
  /** The row's version, when the write was acknowledged. */
  readonly version: string | undefined
}

const deviceOf = (version: string) => version.slice(version.lastIndexOf(".") + 1)

/**
 * The converged rows are the last-writer-wins merge of the writes: for every row, at least as new as its
 * newest acknowledged write (equal to it when as new), and anything newer is a write some device attempted.
 */
export const mergeOfWrites = (
  catalog: Catalog,
  lines: ReadonlyArray<string>,
  writes: ReadonlyArray<Written>
) => {
  const violations: Array<string> = []
  const held = new Map<string, Record<string, unknown>>()
  for (const line of lines) {
    const row = JSON.parse(line) as Record<string, unknown>
    held.set(`${row.kind}/${row.uuid}`, row)
  }
  const byRow = new Map<string, Array<Written>>()
  for (const w of writes) {
    const key = `${w.kind}/${w.uuid}`
    byRow.set(key, [...(byRow.get(key) ?? []), w])
  }
  const fieldsOf = (kind: string, row: Record<string, unknown>) => {
    const fields: Record<string, unknown> = {}
    for (const c of catalog.kind(kind).columns) {
      const v = row[c.name]
      fields[c.name] = c.type === "boolean" && v !== null ? v === 1 : v
    }
    return JSON.stringify(fields)
  }
  for (const key of new Set([...held.keys(), ...byRow.keys()])) {
    const row = held.get(key)
    const attempts = byRow.get(key) ?? []
    const acked = attempts
      .filter((w) => w.version !== undefined)
      .sort((a, b) => (a.version! < b.version! ? -1 : 1))
    const newest = acked.at(-1)
    if (row === undefined) {
      if (newest !== undefined)
        violations.push(
          `${key}: acknowledged write ${newest.version} is lost (the first device does not hold the row)`
        )
      continue
    }
    const kind = key.slice(0, key.indexOf("/"))
    const version = row.version as string
    const deleted = row.deleted === 1
    const same = (w: Written) =>
      w.deleted === deleted &&
      (w.deleted || w.fields === undefined || JSON.stringify(w.fields) === fieldsOf(kind, row))
    if (newest !== undefined && version < newest.version!) {
      violations.push(
        `${key}: holds ${version}${deleted ? " (deleted)" : ""}, older than the acknowledged ${newest.version}${newest.deleted ? " (a delete)" : ""}`
      )
    } else if (newest !== undefined && version === newest.version) {
      if (!same(newest))
        violations.push(`${key}: holds other contents than the acknowledged write ${version}`)
    } else if (!attempts.some((w) => w.version === undefined && w.device === deviceOf(version) && same(w))) {
      violations.push(`${key}: holds ${version}${deleted ? " (deleted)" : ""}, which no device wrote`)
    }
  }
  return violations
}

/**
 * Last-writer-wins never moves a row back: every row of a device is at least as new as when it was last
 * seen. `seen` keeps, per device, the version of every row at the previous look; returns the rows that
 * went back (a device's committed state only; nothing is read mid-transaction). The device's schema must
 * be complete (`schemaComplete`).
 */
export const noRowBack = (catalog: Catalog, device: Held, seen: Map<string, string>): Array<string> => {
  const violations: Array<string> = []
  for (const kind of catalog.names) {
    // The newest row of each uuid: while a bulk load is under way a uuid may be stored more than once
    // (as the product reads it, the newest of them is the row).
    const rows = device.library.read<{ uuid: string; version: string }>(
      `SELECT uuid, max(version) AS version FROM ${table(kind)} GROUP BY uuid`
    )
    if (rows === undefined) return violations
    for (const r of rows) {
      const key = `${kind}/${r.uuid}`
      const before = seen.get(key)
      if (before !== undefined && r.version < before)
        violations.push(`${device.name}'s ${key} went back from ${before} to ${r.version}`)
      seen.set(key, r.version)
    }
  }
  return violations
}

/**
 * Whether every kind's table (and the sync tables the oracle reads) exists on the device: not before it first opened, nor when it crashed while
 * its schema was being created (its next start creates the rest).
 */
export const schemaComplete = (catalog: Catalog, device: Held): boolean => {
  const tables = device.library.read<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
  if (tables === undefined) return false
  const synced = device.sync.read<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
  if (synced === undefined) return false
  const names = new Set(tables.map((t) => t.name))
  const syncNames = new Set(synced.map((t) => t.name))
  return (
    catalog.names.every((kind) => names.has(table(kind).replace(/"/g, ""))) &&
    ["device_resource_watermarks", "backfill_checkpoints", "shared_changes"].every((t) => syncNames.has(t))
  )
}
