import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option } from "effect"
import { chmodSync, mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Indexer from "../src/app/Indexer.js"
import { FileLibrary, Location } from "../src/domain/FileLibrary.js"
import { Storage, Tidemark } from "../src/index.js"
import { deviceA } from "./support/fixtures.js"
import { tempDir } from "./support/tempDir.js"

// The file library's indexer sees only the public API: a device opened offline, in memory.
const device = Tidemark.layerOffline({
  schema: FileLibrary,
  library: Tidemark.newLibrary(),
  device: deviceA,
  storage: Storage.memory
})

interface DumpedRow {
  readonly uuid: string
  readonly version: string
  readonly deleted: boolean
  readonly fields: Record<string, unknown>
}

/** The entry rows of `location`, tombstones included, as the canonical dump shows them. */
const entriesOf = (location: string) =>
  Effect.gen(function* () {
    const lines = yield* Effect.flatMap(Tidemark.Database, (db) => db.dump)
    const rows = new Map<string, DumpedRow>()
    for (const line of lines) {
      const {
        resource,
        uuid,
        version,
        deleted,
        owner: _owner,
        ...fields
      } = JSON.parse(line) as Record<string, unknown>
      if (resource === "entry" && fields.location === location) {
        rows.set(uuid as string, {
          uuid: uuid as string,
          version: version as string,
          deleted: deleted as boolean,
          fields
        })
      }
    }
    return rows
  })

const put = (path: string, content: string, mtime = 1_700_000_000) => {
  writeFileSync(path, content)
  utimesSync(path, mtime, mtime)
}

describe("Indexer", () => {
  it.scoped("indexes files and folders with parents, and re-indexing rewrites only what changed", () =>
    Effect.gen(function* () {
      const root = yield* tempDir("tidemark-index-")
      mkdirSync(join(root, "docs/deep"), { recursive: true })
      put(join(root, "a.txt"), "hello")
      put(join(root, "docs/b.md"), "bee")
      put(join(root, "docs/deep/c.bin"), "sea!")
      put(join(root, "gone.txt"), "bye")
      for (const d of ["docs/deep", "docs"]) utimesSync(join(root, d), 1_700_000_000, 1_700_000_000)

      const first = yield* Indexer.indexFolder(root)
      expect(first).toMatchObject({ entries: 6, added: 6, updated: 0, removed: 0, unchanged: 0 })
      const location = Indexer.locationUuidOf(deviceA, root)
      expect(first.location).toBe(location)
      const loc = yield* Effect.flatMap(Tidemark.Database, (db) => db.get(Location, location))
      expect(Option.getOrThrow(loc).fields).toEqual({
        volume: null,
        path: root,
        name: root.split("/").at(-1)
      })

      const before = yield* entriesOf(location)
      const c = before.get(Indexer.entryUuidOf(location, "docs/deep/c.bin"))!
      expect(c.fields).toMatchObject({
        name: "c.bin",
        kind: "file",
        size: 4,
        modified_at: 1_700_000_000_000,
        parent: Indexer.entryUuidOf(location, "docs/deep"),
        content_hash: null
      })
      expect(before.get(Indexer.entryUuidOf(location, "docs"))!.fields).toMatchObject({
        kind: "dir",
        parent: null,
        size: 0
      })

      // Nothing changed: nothing is written.
      const again = yield* Indexer.indexFolder(root)
      expect(again).toMatchObject({ added: 0, updated: 0, removed: 0, unchanged: 6 })

      // Change one file, add one, remove one (keep folder times fixed so only files differ).
      put(join(root, "a.txt"), "hello, world", 1_700_000_100)
      put(join(root, "docs/new.txt"), "new")
      rmSync(join(root, "gone.txt"))
      for (const d of ["docs/deep", "docs"]) utimesSync(join(root, d), 1_700_000_000, 1_700_000_000)
      const third = yield* Indexer.indexFolder(root)
      expect(third).toMatchObject({ entries: 6, added: 1, updated: 1, removed: 1, unchanged: 4 })

      const after = yield* entriesOf(location)
      const id = (rel: string) => Indexer.entryUuidOf(location, rel)
      expect(after.get(id("a.txt"))!.fields.size).toBe(12)
      expect(after.get(id("a.txt"))!.version > before.get(id("a.txt"))!.version).toBe(true)
      expect(after.get(id("gone.txt"))!.deleted).toBe(true)
      expect(after.get(id("docs/new.txt"))!.fields.parent).toBe(id("docs"))
      for (const rel of ["docs", "docs/b.md", "docs/deep", "docs/deep/c.bin"]) {
        expect(after.get(id(rel))!.version).toBe(before.get(id(rel))!.version)
      }

      // A removed file that comes back is live again.
      put(join(root, "gone.txt"), "back")
      const fourth = yield* Indexer.indexFolder(root)
      expect(fourth).toMatchObject({ added: 1, removed: 0 })
      expect((yield* entriesOf(location)).get(id("gone.txt"))!.deleted).toBe(false)
    }).pipe(Effect.provide(device))
  )

  it.scoped("a folder that cannot be read keeps its stored entries instead of tombstoning them", () =>
    Effect.gen(function* () {
      if (process.getuid?.() === 0) return // root reads everything
      const root = yield* tempDir("tidemark-index-")
      mkdirSync(join(root, "locked"))
      put(join(root, "locked/secret.txt"), "s")
      yield* Indexer.indexFolder(root)
      chmodSync(join(root, "locked"), 0o000)
      const second = yield* Indexer.indexFolder(root).pipe(
        Effect.ensuring(Effect.sync(() => chmodSync(join(root, "locked"), 0o755)))
      )
      expect(second.removed).toBe(0)
      expect(second.skipped).toBe(1)
    }).pipe(Effect.provide(device))
  )

  it.scoped("a missing folder or a file fails with IndexError and writes nothing", () =>
    Effect.gen(function* () {
      const root = yield* tempDir("tidemark-index-")
      const missing = yield* Effect.either(Indexer.indexFolder(join(root, "nope")))
      expect(Either.isLeft(missing) && missing.left._tag).toBe("IndexError")
      put(join(root, "file"), "x")
      const file = yield* Effect.either(Indexer.indexFolder(join(root, "file")))
      expect(Either.isLeft(file) && file.left.message).toContain("not a directory")
      expect(yield* Effect.flatMap(Tidemark.Database, (db) => db.dump)).toEqual([])
    }).pipe(Effect.provide(device))
  )

  it.scoped("excluded paths are not indexed", () =>
    Effect.gen(function* () {
      const root = yield* tempDir("tidemark-index-")
      mkdirSync(join(root, "data"))
      put(join(root, "data/database.db"), "x")
      put(join(root, "keep.txt"), "k")
      const summary = yield* Indexer.indexFolder(root, { exclude: [join(root, "data")] })
      expect(summary.entries).toBe(1)
    }).pipe(Effect.provide(device))
  )

  it("planIndex keeps the stored entries below a folder that could not be read", () => {
    const location = Indexer.locationUuidOf(deviceA, "/x")
    const id = (rel: string) => Indexer.entryUuidOf(location, rel)
    const row = (rel: string, parent: string | null, kind: "file" | "dir") => ({
      uuid: id(rel),
      deleted: false,
      fields: {
        location,
        parent: parent === null ? null : id(parent),
        name: rel,
        kind,
        size: 0,
        modified_at: 1,
        content_hash: null
      }
    })
    const stored = new Map([
      [id("locked"), row("locked", null, "dir")],
      [id("locked/inner"), row("locked/inner", "locked", "dir")],
      [id("locked/inner/f"), row("locked/inner/f", "locked/inner", "file")],
      [id("other"), row("other", null, "file")]
    ])
    const scan = {
      entries: [
        {
          relPath: "locked",
          parentRelPath: null,
          name: "locked",
          kind: "dir" as const,
          size: 0,
          modifiedAt: 1
        }
      ],
      unreadable: ["locked"]
    }
    const plan = Indexer.planIndex(location, scan, stored)
    expect(plan).toMatchObject({ unchanged: 1, removed: 1 })
    expect(plan.writes.map((w) => w.uuid)).toEqual([id("other")])
  })

  it("planIndex tombstones only live entries the scan did not find", () => {
    const location = Indexer.locationUuidOf(deviceA, "/x")
    const scanned = {
      entries: [
        { relPath: "a", parentRelPath: null, name: "a", kind: "file" as const, size: 1, modifiedAt: 5 }
      ],
      unreadable: []
    }
    const fieldsOf = (name: string) => ({
      location,
      parent: null,
      name,
      kind: "file",
      size: 1,
      modified_at: 5,
      content_hash: null
    })
    const stored = new Map([
      [
        Indexer.entryUuidOf(location, "a"),
        { uuid: Indexer.entryUuidOf(location, "a"), deleted: false, fields: fieldsOf("a") }
      ],
      [
        Indexer.entryUuidOf(location, "b"),
        { uuid: Indexer.entryUuidOf(location, "b"), deleted: false, fields: fieldsOf("b") }
      ],
      [
        Indexer.entryUuidOf(location, "c"),
        { uuid: Indexer.entryUuidOf(location, "c"), deleted: true, fields: fieldsOf("c") }
      ]
    ])
    const plan = Indexer.planIndex(location, scanned, stored)
    expect(plan).toMatchObject({ added: 0, updated: 0, unchanged: 1, removed: 1 })
    expect(plan.writes).toEqual([{ uuid: Indexer.entryUuidOf(location, "b"), deleted: true }])
  })
})
