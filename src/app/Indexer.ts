// Indexing a real folder as a location of this device: scan the folder, compare with the rows stored for that
// location, and write only the difference (new and changed entries, tombstones for entries whose file is
// gone). Keeps: a location's uuid is a function of (device, absolute path) and an entry's of (location,
// relative path), so re-running updates the same rows; an unchanged file is never rewritten (its version
// stays); and a subtree that could not be read is never tombstoned, since absence of evidence is not removal.
import { Duration, Effect, Schema } from "effect"
import type { Dirent, Stats } from "node:fs"
import { lstat, readdir } from "node:fs/promises"
import { basename, join, resolve } from "node:path"
import { Entry, type EntryFields, Location, type LocationFields } from "../domain/FileLibrary.js"
import { type Errors, Tidemark } from "../index.js"
import { derivedUuid } from "./DerivedId.js"

/** The folder to index is missing, not a folder, or unreadable. Nothing was written. */
export class IndexError extends Schema.TaggedError<IndexError>()("IndexError", {
  path: Schema.String,
  reason: Schema.String
}) {
  get message() {
    return `${this.path}: ${this.reason}`
  }
}

/** What one run of the indexer found and wrote. */
export interface IndexSummary {
  readonly location: string
  readonly path: string
  /** Files and folders found under the location. */
  readonly entries: number
  readonly added: number
  readonly updated: number
  readonly removed: number
  readonly unchanged: number
  /** Folders that could not be read (their stored entries are kept) and symlinks or special files. */
  readonly skipped: number
}

/** How the indexer writes, and what it leaves out. */
export interface IndexOptions {
  /** Rows per write transaction (default 10,000). */
  readonly batchSize?: number
  /** Absolute paths not to index (and whose stored entries are tombstoned), e.g. a data directory inside. */
  readonly exclude?: ReadonlyArray<string>
}

/** One file or folder found by a scan, keyed by its path relative to the location root ("a/b.txt"). */
export interface ScannedEntry {
  readonly relPath: string
  readonly parentRelPath: string | null
  readonly name: string
  readonly kind: "file" | "dir"
  readonly size: number
  readonly modifiedAt: number
}

/** What a scan of a folder found. */
export interface Scan {
  readonly root: string
  /** Parents before their children. */
  readonly entries: ReadonlyArray<ScannedEntry>
  /** Relative paths of folders that could not be listed. */
  readonly unreadable: ReadonlyArray<string>
  /** Symlinks, sockets, devices … and entries that vanished during the scan. */
  readonly skipped: number
}

/** The uuid of the location of `absolutePath` on `device`: the same on every run. */
export const locationUuidOf = (device: string, absolutePath: string): string =>
  derivedUuid("location", device, absolutePath)

/** The uuid of the entry at `relPath` under `location`: the same on every run. */
export const entryUuidOf = (location: string, relPath: string): string =>
  derivedUuid("entry", location, relPath)

const DEFAULT_BATCH = 10_000
const STAT_CONCURRENCY = 16

const reasonOf = (e: unknown): string =>
  typeof e === "object" && e !== null && "code" in e && typeof e.code === "string"
    ? e.code === "ENOENT"
      ? "no such file or directory"
      : e.code === "EACCES" || e.code === "EPERM"
        ? "permission denied"
        : e.code === "ENOTDIR"
          ? "not a directory"
          : `${e.code}${e instanceof Error ? ` (${e.message})` : ""}`
    : e instanceof Error
      ? e.message
      : String(e)

/** Walk `root` breadth-first without following symlinks. Fails only when the root itself is unusable. */
export const scanFolder = (
  path: string,
  exclude: ReadonlyArray<string> = []
): Effect.Effect<Scan, IndexError> =>
  Effect.gen(function* () {
    const root = resolve(path)
    const excluded = new Set(exclude.map((p) => resolve(p)))
    const rootStat = yield* Effect.tryPromise({
      try: () => lstat(root),
      catch: (e) => new IndexError({ path: root, reason: reasonOf(e) })
    })
    if (!rootStat.isDirectory()) return yield* new IndexError({ path: root, reason: "not a directory" })
    yield* Effect.tryPromise({
      try: () => readdir(root),
      catch: (e) => new IndexError({ path: root, reason: `cannot list it: ${reasonOf(e)}` })
    })

    const entries: Array<ScannedEntry> = []
    const unreadable: Array<string> = []
    let skipped = 0
    let level: Array<string | null> = [null]
    while (level.length > 0) {
      const next: Array<string | null> = []
      for (const dirRel of level) {
        const dirAbs = dirRel === null ? root : join(root, dirRel)
        const listed = yield* Effect.either(
          Effect.tryPromise(() => readdir(dirAbs, { withFileTypes: true }) as Promise<Array<Dirent>>)
        )
        if (listed._tag === "Left") {
          yield* Effect.logWarning(
            `Cannot list ${dirAbs}: ${reasonOf(listed.left.error)}; keeping its entries`
          )
          if (dirRel !== null) unreadable.push(dirRel)
          skipped++
          continue
        }
        const children = listed.right
          .filter((d) => {
            const usable = d.isFile() || d.isDirectory()
            if (!usable) skipped++
            return usable
          })
          .map((d) => d.name)
          .sort()
        const stats = yield* Effect.forEach(
          children,
          (name) => Effect.either(Effect.tryPromise(() => lstat(join(dirAbs, name)))),
          { concurrency: STAT_CONCURRENCY }
        )
        children.forEach((name, i) => {
          const stat = stats[i]!
          if (stat._tag === "Left") {
            skipped++ // vanished between listing and stat: the next run will see it (or its absence)
            return
          }
          const s: Stats = stat.right
          if (!s.isFile() && !s.isDirectory()) {
            skipped++
            return
          }
          const relPath = dirRel === null ? name : `${dirRel}/${name}`
          if (excluded.has(join(root, relPath))) return
          const kind = s.isDirectory() ? "dir" : "file"
          entries.push({
            relPath,
            parentRelPath: dirRel,
            name,
            kind,
            size: kind === "dir" ? 0 : s.size,
            modifiedAt: Math.max(0, Math.floor(s.mtimeMs))
          })
          if (kind === "dir") next.push(relPath)
        })
      }
      level = next
    }
    return { root, entries, unreadable, skipped }
  })

/** A stored entry as the planner compares it; `deleted` only for a tombstone. */
export interface StoredEntry {
  readonly uuid: string
  readonly deleted?: boolean
  readonly fields: Readonly<Record<string, unknown>>
}

/** The stored location row and the live entry rows of one location that this device owns. */
const storedRowsOf = (location: string) =>
  Effect.gen(function* () {
    const db = yield* Tidemark.Database
    const locationRow = yield* db.get(Location, location)
    const entries = new Map<string, StoredEntry>()
    for (const row of yield* db.listBy(Entry, "location", location)) entries.set(row.uuid, row)
    return { locationRow, entries }
  })

const sameFields = (stored: Readonly<Record<string, unknown>>, fields: Readonly<Record<string, unknown>>) =>
  Object.keys(fields).every((k) => stored[k] === fields[k])

/** What to write for one run: new and changed entries, then deletions. */
export interface IndexPlan {
  readonly writes: ReadonlyArray<Tidemark.BatchWrite<typeof Entry>>
  readonly added: number
  readonly updated: number
  readonly removed: number
  readonly unchanged: number
}

/**
 * What to write so the stored entries of `location` match `scan`: scanned entries that are new, changed or
 * were tombstoned, then tombstones for live stored entries the scan did not find, except under unreadable
 * folders. Pure.
 */
export const planIndex = (
  location: string,
  scan: Pick<Scan, "entries" | "unreadable">,
  stored: ReadonlyMap<string, StoredEntry>
): IndexPlan => {
  const writes: Array<Tidemark.BatchWrite<typeof Entry>> = []
  const seen = new Set<string>()
  let added = 0
  let updated = 0
  let unchanged = 0
  for (const e of scan.entries) {
    const uuid = entryUuidOf(location, e.relPath)
    seen.add(uuid)
    const fields: EntryFields = {
      location,
      parent: e.parentRelPath === null ? null : entryUuidOf(location, e.parentRelPath),
      name: e.name,
      kind: e.kind,
      size: e.size,
      modified_at: e.modifiedAt,
      content_hash: null
    }
    const held = stored.get(uuid)
    if (held !== undefined && held.deleted !== true && sameFields(held.fields, fields)) {
      unchanged++
      continue
    }
    if (held === undefined || held.deleted === true) added++
    else updated++
    writes.push({ uuid, fields })
  }

  // Entries under an unreadable folder are kept: their uuids are those of paths below it.
  const keptParents = new Set<string>(scan.unreadable.map((rel) => entryUuidOf(location, rel)))
  const parentOf = new Map<string, string | null>()
  for (const row of stored.values()) parentOf.set(row.uuid, (row.fields.parent as string | null) ?? null)
  const underUnreadable = (uuid: string): boolean => {
    let p: string | null = parentOf.get(uuid) ?? null
    for (let depth = 0; p !== null && depth < 10_000; depth++) {
      if (keptParents.has(p)) return true
      p = parentOf.get(p) ?? null
    }
    return false
  }
  let removed = 0
  for (const row of stored.values()) {
    if (row.deleted === true || seen.has(row.uuid) || keptParents.has(row.uuid) || underUnreadable(row.uuid))
      continue
    writes.push({ uuid: row.uuid, deleted: true })
    removed++
  }
  return { writes, added, updated, removed, unchanged }
}

/**
 * Index the folder at `path` as a location of this device: write its location row and an entry per file and
 * folder, update what changed since the last run and tombstone what is gone. Safe to run again at any time
 * (the daemon's folder watcher calls it after each burst of changes).
 */
export const indexFolder = Effect.fn("Indexer.indexFolder")(function* (path: string, options?: IndexOptions) {
  const db = yield* Tidemark.Database
  const { device } = yield* Tidemark.Replica
  const scan = yield* scanFolder(path, options?.exclude)
  const location = locationUuidOf(device, scan.root)
  const stored = yield* storedRowsOf(location)

  const locationFields: LocationFields = {
    volume: null,
    path: scan.root,
    name: basename(scan.root) || scan.root
  }
  const heldLocation = stored.locationRow
  if (heldLocation._tag === "None" || !sameFields(heldLocation.value.fields, locationFields)) {
    yield* db.write(Location, locationFields, location)
  }

  const plan = planIndex(location, scan, stored.entries)
  const batch = Math.max(1, options?.batchSize ?? DEFAULT_BATCH)
  for (let start = 0; start < plan.writes.length; start += batch) {
    yield* db.writeMany(Entry, plan.writes.slice(start, start + batch))
    // Give the event loop a turn between batches (writes are synchronous): signals and other I/O get served.
    yield* Effect.sleep(Duration.zero)
  }
  const summary: IndexSummary = {
    location,
    path: scan.root,
    entries: scan.entries.length,
    added: plan.added,
    updated: plan.updated,
    removed: plan.removed,
    unchanged: plan.unchanged,
    skipped: scan.skipped
  }
  return summary
}) as (
  path: string,
  options?: IndexOptions
) => Effect.Effect<
  IndexSummary,
  IndexError | Tidemark.WriteError | Errors.RowNotFoundError,
  Tidemark.Database | Tidemark.Replica
>
