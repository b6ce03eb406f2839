// The daemon's /metrics page: the persisted counters and backfill progress of StatusReport (for the running
// streams, BackfillProgress), plus the live measurements of LiveMetrics, in the Prometheus text exposition format (version 0.0.4). Every name starts
// with `tidemark_`; counters end in `_total`; times are in seconds, as Prometheus expects.
import { Effect } from "effect"
import { APPLY_BUCKETS_MILLIS, LiveMetrics, type Snapshot } from "./LiveMetrics.js"
import * as StatusReport from "./StatusReport.js"

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

type Labels = Record<string, string>

const escape = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")

const sample = (name: string, labels: Labels, value: number): string => {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escape(v)}"`)
  const shown = Number.isFinite(value) ? String(value) : value > 0 ? "+Inf" : value < 0 ? "-Inf" : "NaN"
  return `${name}${pairs.length > 0 ? `{${pairs.join(",")}}` : ""} ${shown}`
}

class Page {
  readonly lines: Array<string> = []
  family(name: string, type: "counter" | "gauge" | "histogram", help: string) {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    return this
  }
  add(name: string, labels: Labels, value: number) {
    this.lines.push(sample(name, labels, value))
    return this
  }
}

const storageLabels = (storage: StatusReport.StorageReport): Labels => {
  switch (storage.kind) {
    case "directory":
      return { kind: storage.kind, path: storage.path }
    case "memory":
      return { kind: storage.kind }
    case "client":
      return { kind: storage.kind, prefix: storage.prefix, sync_directory: storage.syncDirectory }
    case "postgres":
      return { kind: storage.kind, database: storage.database, schema: storage.schema }
  }
}

/** Render a status report and a live snapshot. Pure, so it is tested without a daemon. */
export const render = (status: StatusReport.StatusReport, live: Snapshot): string => {
  const p = new Page()
  p.family("tidemark_info", "gauge", "This device and its library (always 1).").add(
    "tidemark_info",
    { device: status.deviceId, library: status.libraryId },
    1
  )
  p.family(
    "tidemark_storage_info",
    "gauge",
    "Where this device keeps its data, without password (always 1)."
  ).add("tidemark_storage_info", storageLabels(status.storage), 1)

  p.family("tidemark_records_total", "counter", "Records moved, per peer and direction (persisted).")
  for (const c of status.countersByPeer) {
    p.add("tidemark_records_total", { peer: c.peer, direction: "received" }, c.recordsReceived)
    p.add("tidemark_records_total", { peer: c.peer, direction: "sent" }, c.recordsSent)
  }
  p.family("tidemark_bytes_total", "counter", "Approximate bytes moved, per peer and direction (persisted).")
  for (const c of status.countersByPeer) {
    p.add("tidemark_bytes_total", { peer: c.peer, direction: "received" }, c.bytesReceived)
    p.add("tidemark_bytes_total", { peer: c.peer, direction: "sent" }, c.bytesSent)
  }

  p.family("tidemark_peer_connected", "gauge", "1 while a connection with the peer is open, else 0.")
  for (const peer of status.peers) {
    p.add("tidemark_peer_connected", { peer: peer.deviceId, address: peer.address }, peer.connected ? 1 : 0)
  }
  p.family("tidemark_peer_last_seen_seconds", "gauge", "When the peer was last heard from (Unix time).")
  for (const peer of status.peers) {
    p.add("tidemark_peer_last_seen_seconds", { peer: peer.deviceId }, peer.lastSeen / 1000)
  }

  p.family("tidemark_watermark", "gauge", "The peer's seq up to which this device holds each resource.")
  for (const w of status.watermarks) {
    p.add("tidemark_watermark", { peer: w.peer, resource: w.resource }, w.watermark)
  }
  p.family("tidemark_lag_rows", "gauge", "Rows the peer still had for us when it answered the last page.")
  for (const l of live.lag) p.add("tidemark_lag_rows", { peer: l.peer, resource: l.resource }, l.rows)

  p.family("tidemark_backfill_done_records", "gauge", "Records of an unfinished backfill pulled so far.")
  for (const b of status.backfill) {
    p.add("tidemark_backfill_done_records", { peer: b.peer, resource: b.resource }, b.done)
  }
  p.family("tidemark_backfill_total_records", "gauge", "Records an unfinished backfill expects in all.")
  for (const b of status.backfill) {
    p.add("tidemark_backfill_total_records", { peer: b.peer, resource: b.resource }, b.total)
  }
  p.family("tidemark_backfill_rate_records_per_second", "gauge", "Backfill rate since it started.")
  for (const b of status.backfill) {
    p.add("tidemark_backfill_rate_records_per_second", { peer: b.peer, resource: b.resource }, b.rate)
  }

  p.family("tidemark_page_apply_seconds", "histogram", "Time to apply one pulled page in one transaction.")
  const h = live.applyLatency
  APPLY_BUCKETS_MILLIS.forEach((le, i) =>
    p.add("tidemark_page_apply_seconds_bucket", { le: String(le / 1000) }, h.buckets[i] ?? 0)
  )
  p.add("tidemark_page_apply_seconds_bucket", { le: "+Inf" }, h.count)
  p.add("tidemark_page_apply_seconds_sum", {}, h.sumMillis / 1000)
  p.add("tidemark_page_apply_seconds_count", {}, h.count)

  p.family("tidemark_clock_drift_seconds", "gauge", "The peer's wall clock minus ours, from the last ping.")
  for (const d of live.clockDrift)
    p.add("tidemark_clock_drift_seconds", { peer: d.peer }, d.driftMillis / 1000)
  p.family("tidemark_peer_round_trip_seconds", "gauge", "Round trip of the last ping to the peer.")
  for (const d of live.clockDrift) {
    p.add("tidemark_peer_round_trip_seconds", { peer: d.peer }, d.roundTripMillis / 1000)
  }
  return p.lines.join("\n") + "\n"
}

/** The /metrics page of this device now. */
export const make = Effect.gen(function* () {
  const status = yield* StatusReport.make
  const live = yield* Effect.flatMap(LiveMetrics, (m) => m.snapshot)
  return render(status, live)
})
