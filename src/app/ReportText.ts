// Human-readable renderings of the status report and the sync.db inspection, for `tidemark status` and
// `tidemark inspect` without --json, and the differences `tidemark verify` found. Pure: the same report and
// clock give the same text.
import type { Tidemark } from "../index.js"

type Inspection = Tidemark.Inspection
type StatusReport = Tidemark.Status

const short = (id: string) => id.slice(0, 8)

/** "3s ago", "5m ago", "2h ago", "4d ago"; "never" for 0. */
export const ago = (then: number, now: number): string => {
  if (then <= 0) return "never"
  const s = Math.max(0, Math.round((now - then) / 1000))
  if (s < 60) return `${s}s ago`
  if (s < 3600) return `${Math.floor(s / 60)}m ago`
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`
  return `${Math.floor(s / 86_400)}d ago`
}

/** "45s", "12m 5s", "3h 2m". */
export const duration = (seconds: number): string => {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`
}

const bytes = (n: number): string =>
  n < 1024
    ? `${n} B`
    : n < 1024 ** 2
      ? `${(n / 1024).toFixed(1)} KiB`
      : n < 1024 ** 3
        ? `${(n / 1024 ** 2).toFixed(1)} MiB`
        : `${(n / 1024 ** 3).toFixed(2)} GiB`

const table = (rows: ReadonlyArray<ReadonlyArray<string>>): Array<string> => {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  return rows.map(
    (r) =>
      "  " +
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join("  ")
        .trimEnd()
  )
}

/** Where the device keeps its data, in one line (the database URL is already without its password). */
const storageText = (storage: StatusReport["storage"]): string => {
  switch (storage.kind) {
    case "directory":
      return `directory ${storage.path}`
    case "memory":
      return "memory"
    case "client":
      return `the application's SqlClient (prefix ${storage.prefix}), sync.db in ${storage.syncDirectory}`
    case "postgres":
      return `postgres ${storage.database} schema ${storage.schema}`
  }
}

/** `tidemark status` without --json: device, storage, peers, backfill, watermarks, counters, last errors. */
export const formatStatus = (report: StatusReport, now: number): string => {
  const out: Array<string> = [
    `device   ${report.deviceId}`,
    `library  ${report.libraryId}`,
    `storage  ${storageText(report.storage)}`,
    ""
  ]
  out.push(`peers (${report.peers.length})`)
  if (report.peers.length === 0) out.push("  none seen yet")
  else {
    out.push(
      ...table([
        ["DEVICE", "ADDRESS", "STATE", "LAST SEEN", "LAST ERROR"],
        ...report.peers.map((p) => [
          p.deviceId,
          p.address || "-",
          p.connected ? "connected" : "disconnected",
          ago(p.lastSeen, now),
          p.lastError ?? "-"
        ])
      ])
    )
  }
  out.push("", "backfill")
  if (report.backfill.length === 0) out.push("  nothing in progress")
  else {
    out.push(
      ...table([
        ["PEER", "RESOURCE", "DONE", "TOTAL", "%", "RATE", "ETA"],
        ...report.backfill.map((b) => [
          short(b.peer),
          b.resource,
          String(b.done),
          String(b.total),
          b.total > 0 ? `${Math.min(100, Math.floor((b.done / b.total) * 100))}%` : "-",
          `${b.rate}/s`,
          b.etaSeconds === null ? "-" : duration(b.etaSeconds)
        ])
      ])
    )
  }
  out.push("", "watermarks (peer's seq of the last row held here)")
  if (report.watermarks.length === 0) out.push("  none yet")
  else {
    out.push(
      ...table([
        ["PEER", "RESOURCE", "WATERMARK"],
        ...report.watermarks.map((w) => [short(w.peer), w.resource, String(w.watermark)])
      ])
    )
  }
  const c = report.counters
  out.push(
    "",
    "counters",
    `  received  ${c.recordsReceived} records, ${bytes(c.bytesReceived)}`,
    `  sent      ${c.recordsSent} records, ${bytes(c.bytesSent)}`
  )
  const errors = report.peers.filter((p) => p.lastError !== null)
  out.push("", "last errors")
  if (errors.length === 0) out.push("  none")
  else for (const p of errors) out.push(`  ${short(p.deviceId)} (${ago(p.lastSeen, now)}): ${p.lastError}`)
  return out.join("\n")
}

/** `tidemark inspect` without --json: what sync.db holds and the rows per kind. */
export const formatInspection = (i: Inspection): string => {
  const out: Array<string> = [`device   ${i.deviceId}`, `library  ${i.libraryId}`, ""]
  out.push(
    `hlc high-water mark  ${i.hlc.highWaterMillis}${i.hlc.highWater === null ? " (no timestamp issued yet)" : ` (${i.hlc.highWater})`}`,
    ""
  )
  const log = i.sharedLog
  out.push(
    "shared log (shared_changes)",
    `  entries ${log.count}, seq ${log.first}..${log.last}, pruned through ${log.prunedThrough}, not yet applied ${log.unapplied}`,
    ""
  )
  out.push("acks (peer_acks)")
  if (i.acks.length === 0) out.push("  none")
  else out.push(...table([["PEER", "SEQ"], ...i.acks.map((a) => [a.peer, String(a.seq)])]))
  out.push("", "watermarks (device_resource_watermarks)")
  if (i.watermarks.length === 0) out.push("  none")
  else {
    out.push(
      ...table([
        ["PEER", "RESOURCE", "WATERMARK", "UPDATED"],
        ...i.watermarks.map((w) => [
          w.peer,
          w.resource,
          String(w.watermark),
          new Date(w.updatedAt).toISOString()
        ])
      ])
    )
  }
  out.push("", "checkpoints (backfill_checkpoints)")
  if (i.checkpoints.length === 0) out.push("  none")
  else {
    out.push(
      ...table([
        ["PEER", "RESOURCE", "CURSOR", "DONE", "TOTAL", "LOG START", "UPDATED"],
        ...i.checkpoints.map((c) => [
          c.peer,
          c.resource,
          String(c.cursor),
          String(c.recordsDone),
          String(c.totalExpected),
          String(c.logStart),
          new Date(c.updatedAt).toISOString()
        ])
      ])
    )
  }
  out.push("", "database.db")
  out.push(
    ...table([
      ["RESOURCE", "ROWS", "LAST SEQ"],
      ...i.library.map((r) => [r.resource, String(r.rows), String(r.lastSeq)])
    ])
  )
  return out.join("\n")
}

/**
 * The rows and ranges of one kind that `verify` found different, indented under the kind's line: each row's
 * uuid, how it differs, and whose copy a repair takes (or took); then the uuid ranges, when no row was listed.
 */
export const formatDifferences = (
  k: Pick<Tidemark.KindComparison, "rows" | "ranges">,
  repaired: boolean
): string => {
  const copy = (takePeers: boolean) =>
    repaired
      ? takePeers
        ? "took the peer's copy"
        : "kept ours"
      : takePeers
        ? "--repair takes the peer's copy"
        : "--repair keeps ours"
  const lines = k.rows.map((r) => `  ${r.uuid}: ${r.difference} (${copy(r.takePeers)})`)
  if (k.rows.length === 0) lines.push(...k.ranges.map((r) => `  uuids from "${r.lo}" up to "${r.hi}"`))
  return lines.join("\n")
}
