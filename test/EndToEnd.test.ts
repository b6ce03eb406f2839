// The daemon-and-CLI issue's end-to-end scenario, as a person would run it: daemon processes
// (`node dist/programs/daemon.js`) on free loopback ports, devices created and driven only with the built
// `node dist/programs/cli.js` — init, join with the printed code, index a real folder, tag, generate, dump.
// The one thing that counts is the result a user compares: byte-identical `dump` output on every device,
// first after edits and tags made on different devices, then after a device was SIGKILLed in the middle of
// its backfill and started again.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { spawnCli } from "./support/cli.js"
import * as D from "./support/daemons.js"
import * as Probe from "./support/probe.js"
import { tempDir } from "./support/tempDir.js"

/** Run the built `cli.js`; its stdout, or a failure carrying its exit code and stderr. */
const cli = (args: ReadonlyArray<string>) =>
  Effect.flatMap(spawnCli(args), (r) =>
    r.code === 0
      ? Effect.succeed(r.stdout)
      : Effect.fail(new Error(`cli.js ${args.join(" ")} exited ${r.code}: ${r.stderr}`))
  )

/** The one JSON line a command printed. */
const cliJson = <A = Record<string, unknown>>(args: ReadonlyArray<string>) =>
  Effect.map(cli(args), (stdout) => JSON.parse(stdout) as A)

/** `cli.js dump` of each directory, run side by side; the raw stdout of each. */
const dumps = (dirs: ReadonlyArray<string>) =>
  Effect.forEach(dirs, (dir) => cli(["dump", "--data-dir", dir]), { concurrency: "unbounded" })

type Row = Record<string, unknown> & { resource: string; uuid: string; deleted: boolean }
const parse = (dump: string): ReadonlyArray<Row> =>
  dump
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Row)

const line = (resource: string, fields: Record<string, unknown>) => (l: string) =>
  l.startsWith(`{"resource":"${resource}"`) &&
  Object.entries(fields).every(([k, v]) => l.includes(`${JSON.stringify(k)}:${JSON.stringify(v)}`))
const has =
  (resource: string, fields: Record<string, unknown>) =>
  (lines: ReadonlyArray<string>): boolean =>
    lines.some(line(resource, fields))
const count = (lines: ReadonlyArray<string>, resource: string) =>
  lines.filter((l) => l.startsWith(`{"resource":"${resource}"`)).length

/** A small real folder tree: nested folders and files with fixed modification times. */
const makeFolder = (root: string) => {
  const put = (rel: string, content: string, mtime = 1_700_000_000) => {
    writeFileSync(join(root, rel), content)
    utimesSync(join(root, rel), mtime, mtime)
  }
  mkdirSync(join(root, "docs", "drafts"), { recursive: true })
  mkdirSync(join(root, "photos", "2024", "summer"), { recursive: true })
  put("readme.txt", "hello")
  put("docs/plan.md", "# plan")
  put("docs/drafts/idea.md", "an idea")
  put("docs/drafts/old.md", "to be removed")
  put("photos/2024/summer/beach.jpg", "not really a jpeg")
  put("photos/2024/summer/sunset.jpg", "nor this")
  return put
}

describe("end to end: three daemons and the CLI", () => {
  it.live(
    "an indexed, edited and tagged folder dumps byte-identically on every device, also after a kill -9 mid-backfill",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const root = yield* tempDir("tidemark-e2e-")
          const folder = join(root, "folder")
          const dirs = [1, 2, 3, 4].map((i) => join(root, `device-${i}`))
          const [dir1, dir2, dir3, dir4] = dirs as [string, string, string, string]

          // Devices made with the CLI: init on the first, join with its printed code on the others.
          const first = yield* cliJson<{ libraryId: string; deviceId: string; joinCode: string }>([
            "init",
            "--data-dir",
            dir1,
            "--name",
            "device-1"
          ])
          const joinAs = (dir: string, name: string) =>
            cliJson<{ libraryId: string; deviceId: string }>([
              "join",
              "--data-dir",
              dir,
              "--code",
              first.joinCode,
              "--name",
              name
            ])
          const joined = yield* Effect.all([joinAs(dir2, "device-2"), joinAs(dir3, "device-3")], {
            concurrency: 2
          })
          for (const device of joined) expect(device.libraryId).toBe(first.libraryId)

          const [at1, at2, at3] = [yield* D.freeAddress, yield* D.freeAddress, yield* D.freeAddress]
          const d1 = yield* D.start(dir1, { listen: at1 })
          const [d2, d3] = yield* Effect.all(
            [D.start(dir2, { listen: at2, peers: [at1] }), D.start(dir3, { listen: at3, peers: [at1, at2] })],
            { concurrency: 2 }
          )
          const running = [d1, d2, d3]

          // Index a real folder on device 1 while its daemon runs.
          const put = makeFolder(folder)
          const indexed = yield* cliJson(["index", "--data-dir", dir1, folder])
          expect(indexed).toMatchObject({ path: folder, entries: 11, added: 11, removed: 0 })

          // Edit it — modify, add, delete — and index again: the same rows change.
          put("readme.txt", "hello, world, now longer", 1_700_000_500)
          put("photos/2024/new.txt", "added later")
          rmSync(join(folder, "docs", "drafts", "old.md"))
          const reindexed = yield* cliJson(["index", "--data-dir", dir1, folder])
          expect(reindexed).toMatchObject({ location: indexed.location, added: 1, removed: 1 })
          expect(reindexed.updated).toBeGreaterThanOrEqual(1)

          // Tag two entries on device 2, once the edits have reached it: uuids from device 2's own dump.
          yield* D.eventually(
            dir2,
            (lines) =>
              has("entry", { name: "new.txt", deleted: false })(lines) &&
              has("entry", { name: "old.md", deleted: true })(lines) &&
              has("entry", { name: "readme.txt", size: 24 })(lines),
            "30 seconds"
          ).pipe(D.explained(running))
          const onDevice2 = parse(yield* cli(["dump", "--data-dir", dir2]))
          const entry = (name: string) =>
            onDevice2.find((r) => r.resource === "entry" && r.name === name && !r.deleted)!.uuid
          const tag = yield* cliJson<{ uuid: string }>(["tag", "add", "--data-dir", dir2, "--name", "keep"])
          yield* Effect.forEach(
            ["new.txt", "summer"],
            (name) => cliJson(["tag", "assign", "--data-dir", dir2, tag.uuid, entry(name)]),
            { concurrency: 2 }
          )

          // All three converge — the tag and its assignments travel from device 2, the folder from device 1.
          yield* D.converged(
            [dir1, dir2, dir3],
            (lines) =>
              count(lines, "tag_assignment") === 2 &&
              has("tag", { uuid: tag.uuid, name: "keep" })(lines) &&
              has("entry", { name: "new.txt" })(lines),
            "30 seconds"
          ).pipe(D.explained(running))
          const [dump1, dump2, dump3] = yield* dumps([dir1, dir2, dir3])
          expect(dump2).toBe(dump1)
          expect(dump3).toBe(dump1)
          const rows = parse(dump1!)
          const byName = (name: string) => rows.find((r) => r.resource === "entry" && r.name === name)!
          expect(rows.filter((r) => r.resource === "device")).toHaveLength(3)
          expect(rows.filter((r) => r.resource === "location")).toEqual([
            expect.objectContaining({ uuid: indexed.location, owner: first.deviceId, path: folder })
          ])
          // 6 files and 5 folders indexed, 1 file added (the removed one stays, as a tombstone).
          expect(rows.filter((r) => r.resource === "entry")).toHaveLength(12)
          expect(byName("readme.txt")).toMatchObject({
            size: 24,
            modified_at: 1_700_000_500_000,
            deleted: false
          })
          expect(byName("old.md")).toMatchObject({ deleted: true, parent: byName("drafts").uuid })
          expect(byName("new.txt")).toMatchObject({ parent: byName("2024").uuid, kind: "file", size: 11 })
          expect(
            rows
              .filter((r) => r.resource === "tag_assignment")
              .map((r) => [r.tag, r.entry])
              .sort()
          ).toEqual(
            [
              [tag.uuid, byName("new.txt").uuid],
              [tag.uuid, byName("summer").uuid]
            ].sort()
          )

          // A larger library on device 1, carried live to devices 2 and 3.
          const entries = 20_000
          yield* cliJson(["generate", "--data-dir", dir1, "--locations", "2", "--entries", String(entries)])
          const total = entries + 12
          yield* Probe.until(
            Probe.allHold([dir1, dir2, dir3], "entry", total),
            "generated rows spreading"
          ).pipe(D.explained(running))

          // Device 4 joins now and starts fresh with small pages, and is killed with SIGKILL in the middle of its backfill.
          expect((yield* joinAs(dir4, "device-4")).libraryId).toBe(first.libraryId)
          const small = ["--batch-size", "500"]
          const at4 = yield* D.freeAddress
          const d4 = yield* D.start(dir4, { listen: at4, peers: [at1, at2], extra: small })
          const seen = yield* Probe.pauseWhen(
            d4,
            Effect.map(Probe.rowCount(dir4, "entry"), (n) => (n >= 4_000 ? n : undefined))
          ).pipe(D.explained([...running, d4]))
          yield* Probe.kill(d4)
          const held = yield* Probe.rowCount(dir4, "entry")
          expect(held).toBe(seen)
          expect(held).toBeLessThan(total)

          // Started again, it resumes and converges with the others: byte-identical dumps on all four.
          const d4again = yield* D.start(dir4, { listen: at4, peers: [at1, at2], extra: small })
          yield* D.waitForLog(d4again, "(resuming an interrupted backfill)", "30 seconds").pipe(
            D.explained([...running, d4again])
          )
          // (Counting rows is cheap; dumping 20,000 rows four times a poll would slow the daemons down.)
          yield* Probe.until(Probe.allHold(dirs, "entry", total), "device 4 backfilling").pipe(
            D.explained([...running, d4again])
          )
          yield* D.converged(dirs, (lines) => count(lines, "entry") === total, "45 seconds").pipe(
            D.explained([...running, d4again])
          )
          const after = yield* dumps(dirs)
          for (const dump of after) expect(dump).toBe(after[0])
          const final = parse(after[0]!)
          expect(final.filter((r) => r.resource === "device")).toHaveLength(4)
          expect(final.filter((r) => r.resource === "location")).toHaveLength(3)
          expect(final.filter((r) => r.resource === "tag_assignment")).toHaveLength(2)
          expect(final.filter((r) => r.resource === "entry" && !r.deleted)).toHaveLength(total - 1)
        })
      ),
    120_000
  )
})
