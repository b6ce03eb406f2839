import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as LiveMetrics from "../src/services/LiveMetrics.js"
import { render } from "../src/services/MetricsReport.js"
import type { StatusReport } from "../src/services/StatusReport.js"
import { deviceA, deviceB, libraryId } from "./support/fixtures.js"

const status: StatusReport = {
  deviceId: deviceA,
  libraryId,
  storage: { kind: "postgres", database: "postgres://hub:***@db.example:5432/sync", schema: "notes_hub" },
  peers: [{ deviceId: deviceB, address: 'host "b"\\x', connected: true, lastSeen: 2_000, lastError: null }],
  watermarks: [{ peer: deviceB, resource: "entry", watermark: 42 }],
  backfill: [{ peer: deviceB, resource: "entry", done: 10, total: 40, rate: 5, etaSeconds: 6, updatedAt: 0 }],
  counters: { recordsReceived: 3, bytesReceived: 300, recordsSent: 1, bytesSent: 100 },
  countersByPeer: [{ peer: deviceB, recordsReceived: 3, bytesReceived: 300, recordsSent: 1, bytesSent: 100 }]
}

describe("the /metrics page", () => {
  it.effect("renders counters, progress, lag, a cumulative apply histogram and clock drift", () =>
    Effect.gen(function* () {
      const live = yield* LiveMetrics.make
      yield* live.pageApplied(deviceB, "entry", { rows: 100, remaining: 7, millis: 3 })
      yield* live.pageApplied(deviceB, "entry", { rows: 100, remaining: 0, millis: 40 })
      yield* live.pageApplied(deviceB, "tag", { rows: 0, remaining: 0, millis: 999 })
      yield* live.clockObserved(deviceB, -1500, 2)
      const text = render(status, yield* live.snapshot)
      const line = (prefix: string) => text.split("\n").find((l) => l.startsWith(prefix))
      expect(text).toContain(
        'tidemark_storage_info{kind="postgres",database="postgres://hub:***@db.example:5432/sync",schema="notes_hub"} 1'
      )
      expect(line(`tidemark_records_total{peer="${deviceB}",direction="received"}`)).toMatch(/ 3$/)
      expect(line(`tidemark_bytes_total{peer="${deviceB}",direction="sent"}`)).toMatch(/ 100$/)
      expect(text).toContain(`tidemark_peer_connected{peer="${deviceB}",address="host \\"b\\"\\\\x"} 1`)
      expect(line(`tidemark_backfill_done_records{peer="${deviceB}",resource="entry"}`)).toMatch(/ 10$/)
      expect(line(`tidemark_backfill_total_records{peer="${deviceB}",resource="entry"}`)).toMatch(/ 40$/)
      expect(line(`tidemark_lag_rows{peer="${deviceB}",resource="entry"}`)).toMatch(/ 0$/)
      // an empty long-poll answer is not an apply
      expect(line('tidemark_page_apply_seconds_bucket{le="0.005"}')).toMatch(/ 1$/)
      expect(line('tidemark_page_apply_seconds_bucket{le="0.05"}')).toMatch(/ 2$/)
      expect(line('tidemark_page_apply_seconds_bucket{le="+Inf"}')).toMatch(/ 2$/)
      expect(line("tidemark_page_apply_seconds_count")).toMatch(/ 2$/)
      expect(line(`tidemark_clock_drift_seconds{peer="${deviceB}"}`)).toMatch(/ -1.5$/)
      // Every storage has its info line, labelled by what describes it.
      const empty = yield* (yield* LiveMetrics.make).snapshot
      const storageLine = (storage: StatusReport["storage"]) =>
        render({ ...status, storage }, empty)
          .split("\n")
          .find((l) => l.startsWith("tidemark_storage_info"))
      expect(storageLine({ kind: "directory", path: '/data/"a"' })).toBe(
        'tidemark_storage_info{kind="directory",path="/data/\\"a\\""} 1'
      )
      expect(storageLine({ kind: "memory" })).toBe('tidemark_storage_info{kind="memory"} 1')
      expect(storageLine({ kind: "client", prefix: "tm_", syncDirectory: "/sync" })).toBe(
        'tidemark_storage_info{kind="client",prefix="tm_",sync_directory="/sync"} 1'
      )
      for (const l of text.trim().split("\n")) {
        expect(l).toMatch(/^(# (HELP|TYPE) tidemark_\w+ .+|tidemark_\w+(\{.*\})? -?[0-9.e+-]+|.*\+Inf.*)$/)
      }
    })
  )
})
