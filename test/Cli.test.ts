// The command-line tool as a script sees it: its JSON output, its exit codes and its one-line errors. Most
// cases run the tool in-process (the same code as the bin, against memory streams); the last group runs the
// built `dist/programs/cli.js` to check what only a real process shows.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { cliJson, cliOk, dumpOf, runCli, spawnCli, type CliResult } from "./support/cli.js"
import { tempDir } from "./support/tempDir.js"

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** A failure as the contract promises: non-zero, one line on stderr starting with "tidemark: ", no stack. */
const expectCleanFailure = (r: CliResult, code: number, contains: string) => {
  expect(r.code, `stderr: ${r.stderr}`).toBe(code)
  const lines = r.stderr.split("\n").filter((l) => l.length > 0)
  expect(lines, r.stderr).toHaveLength(1)
  expect(lines[0]).toMatch(/^tidemark: /)
  expect(lines[0]).toContain(contains)
  expect(r.stderr).not.toMatch(/\n\s+at /)
  expect(r.stdout).toBe("")
}

const initDevice = (dir: string, name = "alpha") =>
  cliJson<{ libraryId: string; deviceId: string; joinCode: string }>([
    "init",
    "--data-dir",
    dir,
    "--name",
    name
  ])

describe("tidemark CLI", () => {
  it.scopedLive(
    "init prints ids and a join code; join with that code makes a second device of the library",
    () =>
      Effect.gen(function* () {
        const root = yield* tempDir("tidemark-cli-")
        const a = yield* initDevice(join(root, "a"))
        expect(Object.keys(a).sort()).toEqual(["deviceId", "joinCode", "libraryId"])
        expect(a.libraryId).toMatch(uuidPattern)
        expect(a.deviceId).toMatch(uuidPattern)
        expect(a.joinCode).toMatch(/^tidemark1-/)

        const b = yield* cliJson([
          "join",
          "--data-dir",
          join(root, "b"),
          "--code",
          a.joinCode,
          "--name",
          "beta"
        ])
        expect(Object.keys(b).sort()).toEqual(["deviceId", "libraryId"])
        expect(b.libraryId).toBe(a.libraryId)
        expect(b.deviceId).not.toBe(a.deviceId)

        // A fresh device holds exactly its own device row.
        expect(yield* dumpOf(join(root, "b"))).toEqual([
          {
            resource: "device",
            uuid: b.deviceId,
            owner: b.deviceId,
            version: expect.stringMatching(/^[0-9a-f]{12}\.[0-9a-f]{4}\./),
            deleted: false,
            name: "beta",
            address: null
          }
        ])
        // Both databases exist.
        const inspection = yield* cliJson<{ library: Array<{ resource: string; rows: number }> }>([
          "inspect",
          "--data-dir",
          join(root, "b"),
          "--json"
        ])
        expect(inspection.library.find((r) => r.resource === "device")?.rows).toBe(1)

        // A second init on the same directory is refused.
        expectCleanFailure(
          yield* runCli(["init", "--data-dir", join(root, "a")]),
          1,
          "already holds a device"
        )
      })
  )

  it.scopedLive("generate is deterministic per seed on fresh devices, and a re-run adds rows", () =>
    Effect.gen(function* () {
      const root = yield* tempDir("tidemark-cli-")
      const a = yield* initDevice(join(root, "a"))
      yield* cliJson(["join", "--data-dir", join(root, "b"), "--code", a.joinCode])
      const args = ["--locations", "3", "--entries", "500", "--tags", "4", "--seed", "42"]
      const [sa, sb] = yield* Effect.all(
        [
          cliJson(["generate", "--data-dir", join(root, "a"), ...args]),
          cliJson(["generate", "--data-dir", join(root, "b"), ...args])
        ],
        { concurrency: 2 }
      )
      expect(sa).toMatchObject({ seed: "42", locations: 3, entries: 500, tags: 4 })
      expect((sa.dirs as number) + (sa.files as number)).toBe(500)
      expect({ ...sb, elapsedMs: 0, rate: 0 }).toEqual({ ...sa, elapsedMs: 0, rate: 0 })

      // Same data except identities: compare the dumps without uuids, owners, versions and references.
      const shape = (rows: ReadonlyArray<Record<string, unknown>>) =>
        rows
          .filter((r) => r.resource !== "device")
          .map((r) => {
            const { deleted, name, kind, size, modified_at, content_hash, color, path, resource } = r
            return JSON.stringify({
              resource,
              deleted,
              name,
              kind,
              size,
              modified_at,
              content_hash,
              color,
              path
            })
          })
          .sort()
      const [da, db] = [yield* dumpOf(join(root, "a")), yield* dumpOf(join(root, "b"))]
      expect(shape(da)).toEqual(shape(db))
      expect(da.filter((r) => r.resource === "entry")).toHaveLength(500)
      expect(da.filter((r) => r.resource === "location")).toHaveLength(3)
      expect(da.filter((r) => r.resource === "tag")).toHaveLength(4)
      // Device-owned rows are owned by the device that generated them; uuids differ between devices.
      expect(da.filter((r) => r.resource === "entry").every((r) => r.owner === a.deviceId)).toBe(true)
      const uuidsA = new Set(da.map((r) => r.uuid))
      expect(db.filter((r) => r.resource !== "device").some((r) => uuidsA.has(r.uuid))).toBe(false)

      // The tree is real: every parent is a folder of the same location.
      const entries = new Map(da.filter((r) => r.resource === "entry").map((r) => [r.uuid, r]))
      for (const e of entries.values()) {
        if (e.parent === null) continue
        const parent = entries.get(e.parent)
        expect(parent?.kind).toBe("dir")
        expect(parent?.location).toBe(e.location)
      }
      expect(
        [...entries.values()].some((e) => e.parent !== null && entries.get(e.parent)!.parent !== null)
      ).toBe(true)

      // A re-run adds; --locations 0 puts the new entries under the existing locations.
      const again = yield* cliJson([
        "generate",
        "--data-dir",
        join(root, "a"),
        "--locations",
        "0",
        "--entries",
        "50"
      ])
      expect(again).toMatchObject({ locations: 0, entries: 50, underLocations: 3 })
      const after = yield* dumpOf(join(root, "a"))
      expect(after.filter((r) => r.resource === "entry")).toHaveLength(550)
      expect(after.filter((r) => r.resource === "location")).toHaveLength(3)

      // Without locations there is nothing to add entries under.
      const c = join(root, "c")
      yield* initDevice(c)
      expectCleanFailure(
        yield* runCli(["generate", "--data-dir", c, "--locations", "0", "--entries", "5"]),
        1,
        "no locations"
      )
    })
  )

  it.scopedLive("index picks up changed, new and removed files; unchanged rows keep their version", () =>
    Effect.gen(function* () {
      const root = yield* tempDir("tidemark-cli-")
      const dir = join(root, "device")
      const a = yield* initDevice(dir)
      const folder = join(root, "folder")
      mkdirSync(join(folder, "sub"), { recursive: true })
      const put = (rel: string, content: string, mtime = 1_700_000_000) => {
        writeFileSync(join(folder, rel), content)
        utimesSync(join(folder, rel), mtime, mtime)
      }
      put("keep.txt", "same")
      put("change.txt", "before")
      put("sub/remove.txt", "bye")
      utimesSync(join(folder, "sub"), 1_700_000_000, 1_700_000_000)

      const first = yield* cliJson(["index", "--data-dir", dir, folder])
      expect(first).toMatchObject({
        path: folder,
        entries: 4,
        added: 4,
        updated: 0,
        removed: 0,
        unchanged: 0
      })
      const before = yield* dumpOf(dir)
      const location = before.find((r) => r.resource === "location")!
      expect(location).toMatchObject({
        uuid: first.location,
        owner: a.deviceId,
        path: folder,
        name: "folder"
      })

      put("change.txt", "after, longer", 1_700_000_500)
      put("new.txt", "new")
      rmSync(join(folder, "sub/remove.txt"))
      utimesSync(join(folder, "sub"), 1_700_000_000, 1_700_000_000)
      const second = yield* cliJson(["index", "--data-dir", dir, folder])
      expect(second).toMatchObject({
        location: first.location,
        added: 1,
        updated: 1,
        removed: 1,
        unchanged: 2
      })

      const after = yield* dumpOf(dir)
      const byName = (rows: ReadonlyArray<Record<string, unknown>>, name: string) =>
        rows.find((r) => r.resource === "entry" && r.name === name)!
      expect(byName(after, "keep.txt").version).toBe(byName(before, "keep.txt").version)
      expect(byName(after, "sub").version).toBe(byName(before, "sub").version)
      expect(byName(after, "change.txt")).toMatchObject({ size: 13, modified_at: 1_700_000_500_000 })
      expect(String(byName(after, "change.txt").version) > String(byName(before, "change.txt").version)).toBe(
        true
      )
      expect(byName(after, "remove.txt")).toMatchObject({ deleted: true, parent: byName(before, "sub").uuid })
      expect(byName(after, "new.txt")).toMatchObject({ deleted: false, parent: null, kind: "file", size: 3 })
      // The location row was not rewritten.
      expect(after.find((r) => r.resource === "location")!.version).toBe(location.version)

      expectCleanFailure(
        yield* runCli(["index", "--data-dir", dir, join(root, "missing")]),
        1,
        "no such file or directory"
      )
    })
  )

  it.scopedLive("tag add, rename, delete and assign show up in the dump", () =>
    Effect.gen(function* () {
      const root = yield* tempDir("tidemark-cli-")
      const dir = join(root, "device")
      yield* initDevice(dir)
      const folder = join(root, "folder")
      mkdirSync(folder)
      writeFileSync(join(folder, "photo.jpg"), "jpg")
      yield* cliOk(["index", "--data-dir", dir, folder])
      const entry = (yield* dumpOf(dir)).find((r) => r.resource === "entry")!.uuid as string

      const { uuid: red } = yield* cliJson<{ uuid: string }>([
        "tag",
        "add",
        "--data-dir",
        dir,
        "--name",
        "red"
      ])
      const { uuid: old } = yield* cliJson<{ uuid: string }>([
        "tag",
        "add",
        "--data-dir",
        dir,
        "--name",
        "old"
      ])
      expect(red).toMatch(uuidPattern)
      expect(yield* cliOk(["tag", "rename", "--data-dir", dir, red, "crimson"])).toBe("")
      expect(yield* cliOk(["tag", "delete", "--data-dir", dir, old])).toBe("")
      const first = yield* cliJson<{ uuid: string }>(["tag", "assign", "--data-dir", dir, red, entry])
      const second = yield* cliJson<{ uuid: string }>(["tag", "assign", "--data-dir", dir, red, entry])
      expect(second.uuid).toBe(first.uuid)

      const dump = yield* dumpOf(dir)
      expect(dump.find((r) => r.uuid === red)).toMatchObject({
        resource: "tag",
        name: "crimson",
        deleted: false
      })
      expect(dump.find((r) => r.uuid === old)).toMatchObject({ resource: "tag", name: "old", deleted: true })
      const assignments = dump.filter((r) => r.resource === "tag_assignment")
      expect(assignments).toEqual([
        expect.objectContaining({ uuid: first.uuid, tag: red, entry, deleted: false })
      ])
      expect(assignments[0]).not.toHaveProperty("owner")

      // The shared writes went through the shared log.
      const inspection = yield* cliJson<{ sharedLog: { count: number; last: number; unapplied: number } }>([
        "inspect",
        "--data-dir",
        dir,
        "--json"
      ])
      expect(inspection.sharedLog).toMatchObject({ count: 5, last: 5, unapplied: 0 })
      // Deleting it again is a no-op (no new version to sync); a tag never held exits 1.
      expect(yield* cliOk(["tag", "delete", "--data-dir", dir, old])).toBe("")
      const again = yield* cliJson<{ sharedLog: { count: number } }>(["inspect", "--data-dir", dir, "--json"])
      expect(again.sharedLog.count).toBe(5)
      expectCleanFailure(
        yield* runCli(["tag", "delete", "--data-dir", dir, "00000000-0000-4000-8000-000000000000"]),
        1,
        "no tag with uuid"
      )

      expectCleanFailure(
        yield* runCli(["tag", "rename", "--data-dir", dir, old, "x"]),
        1,
        `no tag with uuid ${old}`
      )
      expectCleanFailure(
        yield* runCli(["tag", "assign", "--data-dir", dir, red, red]),
        1,
        "no entry with uuid"
      )
      expectCleanFailure(yield* runCli(["tag", "delete", "--data-dir", dir, "nope"]), 2, "is not a uuid")
    })
  )

  it.scopedLive("status and inspect describe the device, as JSON and as text", () =>
    Effect.gen(function* () {
      const root = yield* tempDir("tidemark-cli-")
      const dir = join(root, "device")
      const a = yield* initDevice(dir)
      const status = yield* cliJson(["status", "--data-dir", dir, "--json"])
      expect(status).toEqual({
        deviceId: a.deviceId,
        libraryId: a.libraryId,
        storage: { kind: "directory", path: dir },
        peers: [],
        watermarks: [],
        backfill: [],
        counters: { recordsReceived: 0, bytesReceived: 0, recordsSent: 0, bytesSent: 0 },
        countersByPeer: []
      })
      const text = yield* cliOk(["status", "--data-dir", dir])
      expect(text).toContain(`device   ${a.deviceId}`)
      expect(text).toContain(`storage  directory ${dir}`)
      expect(text).toContain("peers (0)")
      expect(text).toContain("counters")

      const inspection = yield* cliJson<{
        sharedLog: unknown
        hlc: { highWaterMillis: number; highWater: string }
      }>(["inspect", "--data-dir", dir, "--json"])
      expect(Object.keys(inspection).sort()).toEqual(
        ["acks", "checkpoints", "deviceId", "hlc", "library", "libraryId", "sharedLog", "watermarks"].sort()
      )
      expect(inspection.sharedLog).toEqual({ first: 0, last: 0, count: 0, prunedThrough: 0, unapplied: 0 })
      expect(inspection.hlc.highWaterMillis).toBeGreaterThan(Date.now() - 60_000)
      expect(inspection.hlc.highWater).toBe(new Date(inspection.hlc.highWaterMillis).toISOString())
      const inspectText = yield* cliOk(["inspect", "--data-dir", dir])
      for (const section of [
        "hlc high-water mark",
        "shared log",
        "acks",
        "watermarks",
        "checkpoints",
        "database.db"
      ]) {
        expect(inspectText).toContain(section)
      }
    })
  )

  it.scopedLive("every command fails with one clear line on a missing or foreign data directory", () =>
    Effect.gen(function* () {
      const root = yield* tempDir("tidemark-cli-")
      const missing = join(root, "missing")
      const foreign = join(root, "foreign")
      mkdirSync(foreign)
      const uuid = "00000000-0000-4000-8000-000000000001"
      const commands: ReadonlyArray<ReadonlyArray<string>> = [
        ["generate", "--locations", "1", "--entries", "1"],
        ["index", root],
        ["tag", "add", "--name", "x"],
        ["tag", "rename", uuid, "y"],
        ["tag", "delete", uuid],
        ["tag", "assign", uuid, uuid],
        ["dump"],
        ["status"],
        ["status", "--json"],
        ["inspect"]
      ]
      const results = yield* Effect.forEach(
        commands.flatMap((c) => [
          { dir: missing, args: [...c, "--data-dir", missing], says: "no such directory" },
          { dir: foreign, args: [...c, "--data-dir", foreign], says: "not a Tidemark data directory" }
        ]),
        (t) => Effect.map(runCli(t.args), (r) => ({ ...t, r })),
        { concurrency: 4 }
      )
      for (const { args, dir, r, says } of results) {
        expect(r.stderr, args.join(" ")).toContain(`tidemark: ${dir}: ${says}`)
        expectCleanFailure(r, 1, says)
      }
      // A database that cannot be opened is one line too.
      const broken = join(root, "broken")
      yield* initDevice(broken)
      writeFileSync(join(broken, "database.db"), "not a database ".repeat(300))
      rmSync(join(broken, "database.db-wal"), { force: true })
      rmSync(join(broken, "database.db-shm"), { force: true })
      expectCleanFailure(
        yield* runCli(["dump", "--data-dir", broken]),
        1,
        `cannot open ${join(broken, "database.db")}`
      )

      // Nothing was created by trying.
      expect((yield* runCli(["dump", "--data-dir", missing])).code).toBe(1)
    })
  )

  it.scopedLive("bad join codes, unknown flags and missing arguments exit 2 with one line", () =>
    Effect.gen(function* () {
      const root = yield* tempDir("tidemark-cli-")
      const dir = join(root, "d")
      const cases: ReadonlyArray<{ args: ReadonlyArray<string>; says: string }> = [
        { args: ["join", "--data-dir", dir, "--code", "garbage"], says: "invalid join code" },
        { args: ["join", "--data-dir", dir, "--code", "tidemark1-!!!"], says: "invalid join code" },
        { args: ["join", "--data-dir", dir], says: "--code" },
        { args: ["init", "--data-dir", dir, "--bogus"], says: "--bogus" },
        { args: ["dump", "--data-dir", dir, "--verbose"], says: "--verbose" },
        { args: ["status", "--data-dir", dir, "--jsn"], says: "--jsn" },
        { args: ["generate", "--data-dir", dir, "--entries", "5"], says: "--locations" },
        { args: ["generate", "--data-dir", dir, "--locations", "1", "--entries", "lots"], says: "lots" },
        { args: ["generate", "--data-dir", dir, "--locations", "-1", "--entries", "1"], says: "0 or more" },
        { args: ["index", "--data-dir", dir], says: "PATH" },
        { args: ["tag", "add", "--data-dir", dir], says: "--name" },
        { args: ["tag", "rename", "--data-dir", dir, "00000000-0000-4000-8000-000000000001"], says: "NAME" },
        { args: ["tag", "assign", "--data-dir", dir, "a", "b"], says: "is not a uuid" },
        { args: ["tag", "frobnicate"], says: "Invalid subcommand" },
        { args: ["frobnicate"], says: "Invalid subcommand" }
      ]
      const results = yield* Effect.forEach(cases, (c) => Effect.map(runCli(c.args), (r) => ({ ...c, r })), {
        concurrency: 4
      })
      for (const { r, says } of results) expectCleanFailure(r, 2, says)
      // None of them created the data directory.
      expect((yield* runCli(["dump", "--data-dir", dir])).stderr).toContain("no such directory")
    })
  )

  it.scopedLive("every command has --help", () =>
    Effect.gen(function* () {
      const commands = [
        [],
        ["init"],
        ["join"],
        ["generate"],
        ["index"],
        ["tag"],
        ["tag", "add"],
        ["tag", "rename"],
        ["tag", "delete"],
        ["tag", "assign"],
        ["dump"],
        ["status"],
        ["inspect"]
      ]
      const results = yield* Effect.forEach(commands, (c) => runCli([...c, "--help"]), { concurrency: 4 })
      results.forEach((r, i) => {
        expect(r.code, commands[i]!.join(" ")).toBe(0)
        expect(r.stdout).toContain("USAGE")
        expect(r.stdout).toContain(commands[i]!.length === 0 ? "COMMANDS" : "--data-dir")
      })
    })
  )

  it.scopedLive(
    "the built bin prints JSON, exits 1 or 2 with one line on stderr, and defaults --data-dir",
    () =>
      Effect.gen(function* () {
        const root = yield* tempDir("tidemark-cli-")
        const dir = join(root, "d")
        const missing = join(root, "missing")
        const [init, noDir, viaEnv, unknownFlag, badCode, help] = yield* Effect.all(
          [
            spawnCli(["init", "--data-dir", dir, "--name", "bin"]),
            spawnCli(["status", "--data-dir", missing]),
            spawnCli(["dump"], { TIDEMARK_DATA_DIR: missing }),
            spawnCli(["dump", "--data-dir", dir, "--bogus"]),
            spawnCli(["join", "--data-dir", join(root, "j"), "--code", "tidemark1-xyz"]),
            spawnCli(["index", "--help"])
          ],
          { concurrency: 3 }
        )
        expect(init.code, init.stderr).toBe(0)
        expect(init.stderr).toBe("")
        expect(init.stdout.endsWith("\n")).toBe(true)
        expect(Object.keys(JSON.parse(init.stdout)).sort()).toEqual(["deviceId", "joinCode", "libraryId"])
        expectCleanFailure(noDir, 1, `tidemark: ${missing}: no such directory`)
        expectCleanFailure(viaEnv, 1, `tidemark: ${missing}: no such directory`)
        expectCleanFailure(unknownFlag, 2, "--bogus")
        expectCleanFailure(badCode, 2, "invalid join code")
        expect(help.code).toBe(0)
        expect(help.stdout).toContain("USAGE")
      })
  )

  it.scopedLive("the built bin prints --version exactly as the tool does", () =>
    Effect.gen(function* () {
      const [bin, tool] = yield* Effect.all([spawnCli(["--version"]), runCli(["--version"])])
      expect(tool.code).toBe(0)
      expect(tool.stdout).toMatch(/^\d+\.\d+\.\d+/)
      expect(bin).toEqual(tool)
    })
  )

  it.scopedLive(
    "the built bin prints --help and -h exactly as the tool does, from the text the build saved",
    () =>
      Effect.gen(function* () {
        const saved = readFileSync(
          join(import.meta.dirname, "..", "dist", "programs", "cli", "help.txt"),
          "utf8"
        )
        for (const flag of ["--help", "-h"]) {
          const [bin, tool] = yield* Effect.all([spawnCli([flag]), runCli([flag])])
          expect(tool.code).toBe(0)
          expect(tool.stdout).toContain("COMMANDS")
          expect(bin).toEqual(tool)
          expect(saved).toBe(tool.stdout)
        }
      })
  )
})
