// The daemon as a user runs it: separate `node dist/programs/daemon.js` processes talking TLS over loopback
// TCP. Rows are written into a data directory by this test process while its daemon runs (so they reach
// peers only through the daemon's outside-write detection) and read back the same way.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { join } from "node:path"
import * as DataDir from "../src/app/DataDir.js"
import * as D from "./support/daemons.js"
import { tempDir } from "./support/tempDir.js"

const location = (path: string) => ({ volume: null, path, name: path.slice(1) })
const tag = (name: string) => ({ name, color: null })
const has = (text: string) => (lines: ReadonlyArray<string>) => lines.some((l) => l.includes(text))

/** A library with `n` devices, each in its own data directory under `root`. */
const library = (root: string, n: number) =>
  Effect.gen(function* () {
    const first = yield* DataDir.initLibrary(join(root, "d0"), "device-0")
    const code = DataDir.joinCodeOf(first)
    const dirs = [join(root, "d0")]
    for (let i = 1; i < n; i++) {
      yield* DataDir.joinLibrary(join(root, `d${i}`), code, `device-${i}`)
      dirs.push(join(root, `d${i}`))
    }
    return dirs
  })

describe("daemon processes over TCP", () => {
  it.live("a location written on A appears on B, and a tag written on B appears on A", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const [dirA, dirB] = yield* Effect.flatMap(tempDir(), (root) => library(root, 2))
        const [atA, atB] = [yield* D.freeAddress, yield* D.freeAddress]
        yield* D.start(dirA!, { listen: atA, peers: [atB] })
        yield* D.start(dirB!, { listen: atB, peers: [atA] })
        yield* D.write(dirA!, "location", location("/photos"))
        yield* D.write(dirB!, "tag", tag("holiday"))
        const lines = yield* D.converged([dirA!, dirB!], (l) => has("/photos")(l) && has("holiday")(l))
        expect(lines).toHaveLength(2)
      })
    )
  )

  it.live("three daemons in a chain A–B–C converge: C talks only to B", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const [dirA, dirB, dirC] = yield* Effect.flatMap(tempDir(), (root) => library(root, 3))
        const [atA, atB, atC] = [yield* D.freeAddress, yield* D.freeAddress, yield* D.freeAddress]
        yield* D.write(dirA!, "tag", tag("written on A before start"))
        const a = yield* D.start(dirA!, { listen: atA, peers: [atB] })
        const b = yield* D.start(dirB!, { listen: atB, peers: [atA, atC] })
        const c = yield* D.start(dirC!, { listen: atC, peers: [atB] })
        yield* D.write(dirA!, "location", location("/from-a"))
        yield* D.write(dirC!, "location", location("/from-c"))
        yield* D.write(dirC!, "tag", tag("written on C"))
        const lines = yield* D.converged([dirA!, dirB!, dirC!], (l) =>
          ["/from-a", "/from-c", "written on C", "written on A before start"].every((t) => has(t)(l))
        ).pipe(D.explained([a, b, c]))
        expect(lines).toHaveLength(4)
      })
    )
  )

  it.live(
    "a daemon with the wrong secret is refused and nothing of it arrives, while A keeps serving B",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const [dirA, dirB, dirC] = yield* Effect.flatMap(tempDir(), (root) => library(root, 3))
          yield* D.corruptSecret(dirC!)
          yield* D.write(dirC!, "location", location("/from-the-stranger"))
          const [atA, atB, atC] = [yield* D.freeAddress, yield* D.freeAddress, yield* D.freeAddress]
          const a = yield* D.start(dirA!, { listen: atA, peers: [atB] })
          yield* D.start(dirB!, { listen: atB, peers: [atA] })
          const c = yield* D.start(dirC!, { listen: atC, peers: [atA] })
          yield* D.waitForLog(a, "refused a device that did not prove the library secret")
          yield* D.waitForLog(c, `Sync with ${atA} stopped`)
          yield* D.write(dirA!, "tag", tag("after the stranger knocked"))
          yield* D.converged([dirA!, dirB!], has("after the stranger knocked"))
          expect((yield* D.dump(dirA!)).some((l) => l.includes("from-the-stranger"))).toBe(false)
          expect((yield* D.dump(dirC!)).some((l) => l.includes("after the stranger knocked"))).toBe(false)
        })
      )
  )

  it.live("SIGTERM stops a daemon with exit code 0, and a restarted daemon resumes where it stopped", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const [dirA, dirB] = yield* Effect.flatMap(tempDir(), (root) => library(root, 2))
        const [atA, atB] = [yield* D.freeAddress, yield* D.freeAddress]
        yield* D.start(dirA!, { listen: atA, peers: [atB] })
        const b = yield* D.start(dirB!, { listen: atB, peers: [atA] })
        yield* D.write(dirA!, "location", location("/before"))
        yield* D.eventually(dirB!, has("/before"))
        expect(yield* D.stop(b)).toBe(0)
        expect(b.log()).toContain("Shutting down")
        yield* D.write(dirA!, "location", location("/while-b-was-down"))
        yield* D.write(dirA!, "tag", tag("also while b was down"))
        yield* D.start(dirB!, { listen: atB, peers: [atA] })
        const lines = yield* D.converged(
          [dirA!, dirB!],
          (l) => has("/while-b-was-down")(l) && has("also while b was down")(l)
        )
        expect(lines).toHaveLength(3)
      })
    )
  )

  it.live("/metrics and /status answer on the control address", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const [dirA, dirB] = yield* Effect.flatMap(tempDir(), (root) => library(root, 2))
        const [atA, atB, control] = [yield* D.freeAddress, yield* D.freeAddress, yield* D.freeAddress]
        const a = yield* D.start(dirA!, { listen: atA, peers: [atB], control })
        const b = yield* D.start(dirB!, { listen: atB, peers: [atA] })
        yield* D.write(dirA!, "location", location("/metered"))
        yield* D.eventually(dirB!, has("/metered")).pipe(D.explained([a, b]))
        const idA = (yield* D.identityOf(dirA!)).deviceId
        const idB = (yield* D.identityOf(dirB!)).deviceId
        const get = (path: string) =>
          Effect.promise(async () => {
            const res = await fetch(`http://${control}${path}`)
            return { status: res.status, type: res.headers.get("content-type"), body: await res.text() }
          })

        const status = yield* get("/status")
        expect(status.status).toBe(200)
        const report = JSON.parse(status.body)
        expect(report.deviceId).toBe(idA)
        expect(report.storage).toEqual({ kind: "directory", path: dirA })
        expect(report.peers).toContainEqual(expect.objectContaining({ deviceId: idB, connected: true }))
        expect(Object.keys(report.counters).sort()).toEqual(
          ["bytesReceived", "bytesSent", "recordsReceived", "recordsSent"].sort()
        )

        // A served the location to B (the sent counter is written when the page is answered), and A's own
        // session to B has pulled (lag) and pinged (clock drift) — A reached B after B started, so poll.
        const ready = [
          new RegExp(`tidemark_records_total\\{peer="${idB}",direction="sent"\\} [1-9]`),
          new RegExp(`tidemark_lag_rows\\{peer="${idB}",resource="location"\\} 0`),
          new RegExp(`tidemark_clock_drift_seconds\\{peer="${idB}"\\} -?[0-9.e-]+`)
        ]
        const metrics = yield* Effect.gen(function* () {
          for (;;) {
            const m = yield* get("/metrics")
            if (ready.every((r) => r.test(m.body))) return m
            yield* Effect.sleep("50 millis")
          }
        }).pipe(Effect.timeout("10 seconds"))
        expect(metrics.status).toBe(200)
        expect(metrics.type).toContain("text/plain")
        expect(metrics.body).toContain(`tidemark_peer_connected{peer="${idB}"`)
        expect(metrics.body).toContain("tidemark_page_apply_seconds_count")
        expect(metrics.body).toContain(`tidemark_storage_info{kind="directory",path="${dirA}"} 1`)
        expect((yield* get("/nothing-here")).status).toBe(404)
      })
    )
  )

  it.live("bad flags and a missing data directory fail with one clear line and a non-zero exit", () =>
    Effect.gen(function* () {
      const unknown = yield* D.runToExit(["--frobnicate"])
      expect(unknown.code).toBe(2)
      expect(unknown.stderr.trim()).toBe("tidemark daemon: unknown option --frobnicate (see --help)")
      const badPeer = yield* D.runToExit(["--peer", "nowhere"])
      expect(badPeer.code).toBe(2)
      expect(badPeer.stderr.trim().split("\n")).toHaveLength(1)
      const missing = yield* D.runToExit(["--data-dir", "/nonexistent/tidemark-test"])
      expect(missing.code).toBe(1)
      expect(missing.stderr.trim().split("\n")).toHaveLength(1)
      expect(missing.stderr).toContain("/nonexistent/tidemark-test: no such directory")
      const help = yield* D.runToExit(["--help"])
      expect(help.code).toBe(0)
      expect(help.stdout).toContain("--data-dir DIR")
    })
  )
})
