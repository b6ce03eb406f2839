// Synthetic library data for tests, demos and benchmarks: locations with a realistic folder tree of entries
// (folders nest a few levels deep, files sit in folders with plausible names, sizes and times) and tags, all
// written through the Library like any application write. Keeps: the data is a function of the seed and of
// how many rows the library already held (two fresh devices given the same seed get the same names, sizes
// and tree; only uuids and owners differ), uuids also depend on the device id so devices never collide, and
// a re-run on the same device adds new rows instead of overwriting the previous run's.
import { Clock, Duration, Effect, Schema } from "effect"
import {
  Entry,
  type EntryFields,
  Location,
  type LocationFields,
  Tag,
  type TagFields
} from "../domain/FileLibrary.js"
import { type Errors, Tidemark } from "../index.js"
import { derivedUuid } from "./DerivedId.js"

/** The request cannot be generated (for example no locations to add entries under). Nothing was written. */
export class GenerateError extends Schema.TaggedError<GenerateError>()("GenerateError", {
  reason: Schema.String
}) {
  get message() {
    return this.reason
  }
}

/** What to generate. */
export interface GenerateOptions {
  /** New locations to create; 0 puts the new entries under this device's existing locations. */
  readonly locations: number
  /** Entries (files and folders) to create. */
  readonly entries: number
  readonly tags?: number
  readonly seed?: string
  /** Rows per write transaction (default 10,000). */
  readonly batchSize?: number
  /** Called after each committed batch of entries. */
  readonly onProgress?: (done: number, total: number) => Effect.Effect<void>
}

/** What was generated, and how fast. */
export interface GenerateSummary {
  readonly seed: string
  readonly locations: number
  readonly entries: number
  readonly dirs: number
  readonly files: number
  readonly tags: number
  /** The locations the entries went under. */
  readonly underLocations: number
  readonly elapsedMs: number
  /** Rows written per second. */
  readonly rate: number
}

/** mulberry32: a small, fast, seedable PRNG (uniform in [0, 1)). */
export const prng = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A 32-bit seed from any text (FNV-1a). */
export const seedOf = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h >>> 0
}

const WORDS = [
  "photos",
  "documents",
  "projects",
  "music",
  "archive",
  "drafts",
  "invoices",
  "travel",
  "family",
  "notes",
  "src",
  "assets",
  "backup",
  "reports",
  "scans",
  "videos",
  "design",
  "research",
  "taxes",
  "recipes",
  "letters",
  "exports",
  "raw",
  "edited",
  "old",
  "shared",
  "clients",
  "2019",
  "2020",
  "2021",
  "2022",
  "2023"
]
const FILE_WORDS = [
  "IMG",
  "DSC",
  "report",
  "summary",
  "invoice",
  "notes",
  "draft",
  "final",
  "scan",
  "track",
  "clip",
  "budget",
  "readme",
  "index",
  "main",
  "slides",
  "letter",
  "photo",
  "backup",
  "data"
]
const EXTENSIONS = [
  "jpg",
  "jpg",
  "jpg",
  "png",
  "pdf",
  "pdf",
  "txt",
  "md",
  "docx",
  "xlsx",
  "mp3",
  "mp4",
  "ts",
  "json",
  "zip",
  "heic"
]
const TAG_NAMES = [
  "red",
  "orange",
  "yellow",
  "green",
  "blue",
  "purple",
  "grey",
  "work",
  "personal",
  "todo",
  "keep",
  "later"
]
const COLORS = ["#e5484d", "#f76b15", "#ffe629", "#30a46c", "#0090ff", "#8e4ec6", "#8b8d98"]

/** Files are written from 2019 to 2024. */
const TIME_BASE = 1_546_300_800_000
const TIME_SPAN = 6 * 365 * 24 * 3_600_000
const MAX_DEPTH = 7
/** About one folder per this many entries. */
const ENTRIES_PER_DIR = 12

interface Dir {
  readonly uuid: string | null
  readonly depth: number
}

interface Tree {
  readonly location: string
  readonly dirs: Array<Dir>
  files: number
}

/** Write synthetic locations, entries and tags as this device, in batches; see `GenerateOptions`. */
export const generate = Effect.fn("Generator.generate")(function* (options: GenerateOptions) {
  const db = yield* Tidemark.Database
  const deviceId = (yield* Tidemark.Replica).device
  const started = yield* Clock.currentTimeMillis
  const seed = options.seed ?? "0"
  const batchSize = Math.max(1, options.batchSize ?? 10_000)
  const tagCount = options.tags ?? 0

  // How much the library already holds: part of the uuid namespace and of the PRNG seed, so a re-run adds.
  const held = (yield* db.count(Location)) + (yield* db.count(Entry)) + (yield* db.count(Tag))
  const random = prng(seedOf(`${seed}/${held}`))
  const pick = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(random() * xs.length)]!
  const uuid = (kind: string, n: number) =>
    derivedUuid("generated", deviceId, seed, String(held), kind, String(n))

  // Locations: new ones, or this device's existing live ones.
  const trees: Array<Tree> = []
  if (options.locations > 0) {
    const writes: Array<Tidemark.BatchWrite<typeof Location>> = []
    for (let i = 0; i < options.locations; i++) {
      const location = uuid("location", i)
      const name = `${pick(WORDS)}-${held}-${i}`
      const fields: LocationFields = { volume: null, path: `/generated/${seed}/${name}`, name }
      writes.push({ uuid: location, fields })
      trees.push({ location, dirs: [{ uuid: null, depth: 0 }], files: 0 })
    }
    for (let start = 0; start < writes.length; start += batchSize) {
      yield* db.writeMany(Location, writes.slice(start, start + batchSize))
    }
  } else if (options.entries > 0) {
    for (const row of yield* db.list(Location)) {
      if (row.owner === deviceId)
        trees.push({ location: row.uuid, dirs: [{ uuid: null, depth: 0 }], files: 0 })
    }
    trees.sort((a, b) => (a.location < b.location ? -1 : 1))
    if (trees.length === 0) {
      return yield* new GenerateError({
        reason: "this device has no locations to add entries under (create some with --locations N)"
      })
    }
  }

  // Entries: a folder when the tree has too few for its files, else a file; parents lean towards recent
  // folders so the tree grows deep as well as wide.
  let dirs = 0
  let files = 0
  const entry = (n: number): Tidemark.BatchWrite<typeof Entry> => {
    const tree = trees.length === 1 ? trees[0]! : pick(trees)
    const recent = tree.dirs.length > 8 && random() < 0.7
    const parent = recent ? tree.dirs[tree.dirs.length - 1 - Math.floor(random() * 8)]! : pick(tree.dirs)
    const makeDir =
      parent.depth < MAX_DEPTH && tree.dirs.length * ENTRIES_PER_DIR < tree.files + ENTRIES_PER_DIR
    const id = uuid("entry", n)
    const modified_at = TIME_BASE + Math.floor(random() * TIME_SPAN)
    let fields: EntryFields
    if (makeDir) {
      tree.dirs.push({ uuid: id, depth: parent.depth + 1 })
      dirs++
      fields = {
        location: tree.location,
        parent: parent.uuid,
        name: `${pick(WORDS)}-${n}`,
        kind: "dir",
        size: 0,
        modified_at,
        content_hash: null
      }
    } else {
      tree.files++
      files++
      const size = Math.floor(Math.exp(random() * 16)) + (random() < 0.01 ? Math.floor(random() * 4e9) : 0)
      const hash =
        Math.floor(random() * 2 ** 32)
          .toString(16)
          .padStart(8, "0") + n.toString(16).padStart(8, "0")
      fields = {
        location: tree.location,
        parent: parent.uuid,
        name: `${pick(FILE_WORDS)}_${n}.${pick(EXTENSIONS)}`,
        kind: "file",
        size,
        modified_at,
        content_hash: hash
      }
    }
    return { uuid: id, fields }
  }
  let done = 0
  while (done < options.entries) {
    const n = Math.min(batchSize, options.entries - done)
    const writes: Array<Tidemark.BatchWrite<typeof Entry>> = []
    for (let i = 0; i < n; i++) writes.push(entry(done + i))
    yield* db.writeMany(Entry, writes)
    // Give the event loop a turn between batches (writes are synchronous): signals and other I/O get served.
    yield* Effect.sleep(Duration.zero)
    done += n
    if (options.onProgress) yield* options.onProgress(done, options.entries)
  }

  const tagWrites: Array<Tidemark.BatchWrite<typeof Tag>> = []
  for (let i = 0; i < tagCount; i++) {
    const fields: TagFields = { name: `${pick(TAG_NAMES)}-${i}`, color: pick(COLORS) }
    tagWrites.push({ uuid: uuid("tag", i), fields })
  }
  for (let start = 0; start < tagWrites.length; start += batchSize) {
    yield* db.writeMany(Tag, tagWrites.slice(start, start + batchSize))
  }

  const elapsedMs = (yield* Clock.currentTimeMillis) - started
  const rows = options.locations + options.entries + tagCount
  const summary: GenerateSummary = {
    seed,
    locations: options.locations,
    entries: options.entries,
    dirs,
    files,
    tags: tagCount,
    underLocations: trees.length,
    elapsedMs,
    rate: elapsedMs > 0 ? Math.round((rows * 1000) / elapsedMs) : rows
  }
  return summary
}) as (
  options: GenerateOptions
) => Effect.Effect<
  GenerateSummary,
  GenerateError | Tidemark.WriteError | Errors.RowNotFoundError,
  Tidemark.Database | Tidemark.Replica
>
