// The `tidemark` command-line tool as a function from arguments to an exit code: parses arguments, opens the
// device of a data directory, runs one service operation and prints its result (JSON on stdout for scripts;
// progress and errors on stderr). Keeps the public contract of docs/cli.md: every failure is one line on
// stderr starting with "tidemark: " and a non-zero exit (1 when the operation failed, 2 for bad arguments),
// never a stack trace. Each command opens the stores, does its work and closes them, so it can run beside a
// daemon on the same data directory. The bin (../cli.ts) runs it against the process's streams; tests run it
// in-process against memory.
import { Args, Command, Options, ValidationError } from "@effect/cli"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Cause, Clock, type Console, Context, Effect, Either, Layer, Logger, Option, Schema } from "effect"
import { createRequire } from "node:module"
import { hostname } from "node:os"
import * as DataDir from "../../app/DataDir.js"
import * as Generator from "../../app/Generator.js"
import * as Indexer from "../../app/Indexer.js"
import * as ReportText from "../../app/ReportText.js"
import * as Tags from "../../app/Tags.js"
import { Uuid } from "../../app/Uuid.js"
import { Device } from "../../domain/FileLibrary.js"
import { Tidemark } from "../../index.js"

/**
 * The package's version, from the nearest package.json above this module: three folders up from
 * src/programs/cli and dist/programs/cli, two from the bundled dist/programs/cli.js (scripts/bundle.js).
 */
const VERSION: string = (() => {
  const require = createRequire(import.meta.url)
  for (const path of ["../../package.json", "../../../package.json"]) {
    try {
      const pkg = require(path) as { name?: string; version: string }
      if (pkg.name === "tidemark") return pkg.version
    } catch {
      // not there: try one folder further up
    }
  }
  return "unknown"
})()

/** Bad arguments found after parsing (a malformed uuid, a negative count). Exit code 2. */
class UsageError extends Schema.TaggedError<UsageError>()("UsageError", { reason: Schema.String }) {
  get message() {
    return this.reason
  }
}

/** `verify` found rows that differ from the peer's. Exit code 1. */
class LibrariesDiffer extends Schema.TaggedError<LibrariesDiffer>()("LibrariesDiffer", {
  reason: Schema.String
}) {
  get message() {
    return this.reason
  }
}

// ---------------------------------------------------------------------------------------------------------
// Output: results on stdout, everything else on stderr. The Console's error channel is reserved for
// @effect/cli, whose messages are re-worded below; its help text (Console.log) goes to stdout.

export class Output extends Context.Tag("tidemark/cli/Output")<
  Output,
  {
    /** Write to stdout; completes when the text is handed to the OS (so large dumps are not cut short). */
    readonly stdout: (text: string) => Effect.Effect<void>
    readonly stderr: (text: string) => void
  }
>() {
  /** The process's own streams. */
  static readonly layerProcess = Layer.succeed(Output, {
    stdout: (text) =>
      Effect.async<void>((resume) => {
        process.stdout.write(text, () => resume(Effect.void))
      }),
    stderr: (text) => {
      process.stderr.write(text)
    }
  })
}

const out = (text: string) => Effect.flatMap(Output, (o) => o.stdout(text + "\n"))
const json = (value: unknown) => out(JSON.stringify(value))
const info = (text: string) =>
  Effect.flatMap(Output, (o) => Effect.sync(() => o.stderr(`tidemark: ${text}\n`)))

// ---------------------------------------------------------------------------------------------------------
// Shared options and arguments.

const dataDir = Options.directory("data-dir", { exists: "either" }).pipe(
  Options.withDefault(DataDir.defaultDataDir()),
  Options.withDescription(
    "The device's data directory (device.json, database.db, sync.db). Default: $TIDEMARK_DATA_DIR, else $XDG_DATA_HOME/tidemark, else ~/.local/share/tidemark."
  )
)
const deviceName = Options.text("name").pipe(
  Options.optional,
  Options.withDescription("A name for this device (default: the host name).")
)
const json_ = Options.boolean("json").pipe(Options.withDescription("Print one JSON line instead of text."))

const uuidArg = (name: string, description: string) =>
  Args.text({ name }).pipe(Args.withDescription(description))

const parseUuid = (what: string, text: string) =>
  Either.match(Schema.decodeUnknownEither(Uuid)(text.trim().toLowerCase()), {
    onLeft: () => Effect.fail(new UsageError({ reason: `${what} "${text}" is not a uuid` })),
    onRight: Effect.succeed
  })

const count = (name: string, description: string) =>
  Options.integer(name).pipe(
    Options.withDescription(description),
    Options.mapEffect((n) =>
      n >= 0
        ? Effect.succeed(n)
        : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`--${name} must be 0 or more, got ${n}`)))
    )
  )

// ---------------------------------------------------------------------------------------------------------
// Opening a device.

/** The device of `dir` with its storage open (not serving, not syncing) for the duration of `use`. */
const withDevice = <A, E, R>(dir: string, use: (identity: DataDir.Identity) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(DataDir.load(dir), (identity) =>
    Effect.provide(use(identity), Tidemark.layerOffline(DataDir.deviceConfig(dir, identity)))
  )

/** A freshly created data directory: create both databases and this device's own `device` row. */
const registerDevice = (dir: string, identity: DataDir.Identity) =>
  withDevice(dir, () =>
    Effect.flatMap(Tidemark.Database, (db) =>
      db.write(Device, { name: identity.name, address: null }, identity.deviceId)
    )
  )

const defaultName = () => {
  const host = hostname()
  return host.length > 0 ? host : "tidemark-device"
}
const nameOr = (name: Option.Option<string>) =>
  Effect.sync(() => Option.getOrElse(name, defaultName)).pipe(
    Effect.flatMap((n) =>
      n.trim().length === 0
        ? Effect.fail(new UsageError({ reason: "--name must not be empty" }))
        : Effect.succeed(n)
    )
  )

// ---------------------------------------------------------------------------------------------------------
// Commands.

const init = Command.make("init", { dataDir, name: deviceName }, ({ dataDir, name }) =>
  Effect.gen(function* () {
    const identity = yield* DataDir.initLibrary(dataDir, yield* nameOr(name))
    yield* registerDevice(dataDir, identity)
    yield* json({
      libraryId: identity.libraryId,
      deviceId: identity.deviceId,
      joinCode: DataDir.joinCodeOf(identity)
    })
  })
).pipe(Command.withDescription("Create a new library with this device as its first member."))

const join = Command.make(
  "join",
  {
    dataDir,
    code: Options.text("code").pipe(Options.withDescription("The join code printed by `tidemark init`.")),
    name: deviceName
  },
  ({ code, dataDir, name }) =>
    Effect.gen(function* () {
      const identity = yield* DataDir.joinLibrary(dataDir, code, yield* nameOr(name))
      yield* registerDevice(dataDir, identity)
      yield* json({ libraryId: identity.libraryId, deviceId: identity.deviceId })
    })
).pipe(Command.withDescription("Join an existing library as a new device."))

const generate = Command.make(
  "generate",
  {
    dataDir,
    locations: count(
      "locations",
      "New locations to create (0: add the entries under this device's existing locations)."
    ),
    entries: count("entries", "Entries (files and folders) to create."),
    tags: count("tags", "Tags to create.").pipe(Options.withDefault(0)),
    seed: Options.text("seed").pipe(
      Options.withDefault("0"),
      Options.withDescription("Seed of the generated data.")
    ),
    batchSize: count("batch-size", "Rows per write transaction.").pipe(Options.withDefault(10_000))
  },
  ({ batchSize, dataDir, entries, locations, seed, tags }) =>
    withDevice(dataDir, () =>
      Effect.gen(function* () {
        const output = yield* Output
        const started = yield* Clock.currentTimeMillis
        let reported = started
        const summary = yield* Generator.generate({
          locations,
          entries,
          tags,
          seed,
          batchSize: Math.max(1, batchSize),
          onProgress: (done, total) =>
            Effect.flatMap(Clock.currentTimeMillis, (now) => {
              if (done < total && now - reported < 1_000) return Effect.void
              reported = now
              const rate = now > started ? Math.round((done * 1000) / (now - started)) : 0
              return total >= 50_000
                ? Effect.sync(() =>
                    output.stderr(
                      `tidemark: generate: ${done}/${total} entries (${Math.floor((done / total) * 100)}%, ${rate}/s)\n`
                    )
                  )
                : Effect.void
            })
        })
        yield* json(summary)
      })
    )
).pipe(Command.withDescription("Write synthetic library data (locations, a folder tree of entries, tags)."))

const index = Command.make(
  "index",
  {
    dataDir,
    path: Args.directory({ name: "PATH", exists: "either" }).pipe(
      Args.withDescription("The folder to index.")
    )
  },
  ({ dataDir, path }) =>
    withDevice(dataDir, () => Effect.flatMap(Indexer.indexFolder(path, { exclude: [dataDir] }), json))
).pipe(
  Command.withDescription("Index a folder as a location; re-run to pick up changed, new and removed files.")
)

const tagAdd = Command.make(
  "add",
  { dataDir, name: Options.text("name").pipe(Options.withDescription("The tag's name.")) },
  ({ dataDir, name }) =>
    Effect.gen(function* () {
      if (name.trim().length === 0) return yield* new UsageError({ reason: "--name must not be empty" })
      yield* withDevice(dataDir, () => Effect.flatMap(Tags.add(name), (uuid) => json({ uuid })))
    })
).pipe(Command.withDescription("Create a tag; prints its uuid."))

const tagRename = Command.make(
  "rename",
  {
    dataDir,
    uuid: uuidArg("UUID", "The tag."),
    name: Args.text({ name: "NAME" }).pipe(Args.withDescription("Its new name."))
  },
  ({ dataDir, name, uuid }) =>
    Effect.gen(function* () {
      const tag = yield* parseUuid("tag", uuid)
      if (name.trim().length === 0) return yield* new UsageError({ reason: "NAME must not be empty" })
      yield* withDevice(dataDir, () => Tags.rename(tag, name))
    })
).pipe(Command.withDescription("Rename a tag."))

const tagDelete = Command.make(
  "delete",
  { dataDir, uuid: uuidArg("UUID", "The tag.") },
  ({ dataDir, uuid }) =>
    Effect.flatMap(parseUuid("tag", uuid), (tag) => withDevice(dataDir, () => Tags.remove(tag)))
).pipe(Command.withDescription("Delete a tag."))

const tagAssign = Command.make(
  "assign",
  { dataDir, tag: uuidArg("TAG_UUID", "The tag."), entry: uuidArg("ENTRY_UUID", "The entry to tag.") },
  ({ dataDir, entry, tag }) =>
    Effect.gen(function* () {
      const t = yield* parseUuid("tag", tag)
      const e = yield* parseUuid("entry", entry)
      yield* withDevice(dataDir, () => Effect.flatMap(Tags.assign(t, e), (uuid) => json({ uuid })))
    })
).pipe(
  Command.withDescription("Tag an entry (assigning twice changes nothing); prints the assignment's uuid.")
)

const tag = Command.make("tag").pipe(
  Command.withDescription("Add, rename, delete and assign tags."),
  Command.withSubcommands([tagAdd, tagRename, tagDelete, tagAssign])
)

const dump = Command.make("dump", { dataDir }, ({ dataDir }) =>
  withDevice(dataDir, () =>
    Effect.gen(function* () {
      const lines = yield* Effect.flatMap(Tidemark.Database, (db) => db.dump)
      for (let start = 0; start < lines.length; start += 10_000) {
        yield* out(lines.slice(start, start + 10_000).join("\n"))
      }
    })
  )
).pipe(Command.withDescription("Print the library as canonical JSON lines, sorted by resource then uuid."))

const status = Command.make("status", { dataDir, json: json_ }, ({ dataDir, json: asJson }) =>
  withDevice(dataDir, () =>
    Effect.gen(function* () {
      const report = yield* Effect.flatMap(Tidemark.Replica, (r) => r.status)
      if (asJson) return yield* json(report)
      yield* out(ReportText.formatStatus(report, yield* Clock.currentTimeMillis))
    })
  )
).pipe(Command.withDescription("Show peers, watermarks, backfill progress, counters and last errors."))

const inspect = Command.make("inspect", { dataDir, json: json_ }, ({ dataDir, json: asJson }) =>
  withDevice(dataDir, () =>
    Effect.gen(function* () {
      const inspection = yield* Effect.flatMap(Tidemark.Replica, (r) => r.inspect)
      yield* asJson ? json(inspection) : out(ReportText.formatInspection(inspection))
    })
  )
).pipe(
  Command.withDescription(
    "Show what sync.db holds: watermarks, checkpoints, the shared log, acks, the clock."
  )
)

const peerAddress = Options.text("peer").pipe(
  Options.withDescription("HOST:PORT of a peer daemon of the same library (its --listen address).")
)
const repair = Options.boolean("repair").pipe(
  Options.withDescription(
    "Take the peer's copy of the rows that differ where it is the one to keep (newer, or the owner's, see docs/sync-troubleshooting.md) instead of only reporting."
  )
)

const verify = Command.make(
  "verify",
  { dataDir, peer: peerAddress, repair, json: json_ },
  ({ dataDir, peer, repair, json: asJson }) =>
    withDevice(dataDir, () =>
      Effect.gen(function* () {
        const verification = yield* Effect.flatMap(Tidemark.Replica, (r) => r.verify(peer, { repair }))
        const kinds = verification.kinds.map(({ kind, ...k }) => ({ resource: kind, ...k }))
        const differing = kinds.filter((k) => !k.same)
        if (asJson) {
          yield* json({ peer: verification.peer, address: peer, same: differing.length === 0, kinds })
        } else {
          for (const k of kinds) {
            yield* out(
              k.same
                ? `${k.resource}: same (${k.peerRows} rows on the peer)`
                : `${k.resource}: ${k.differingRanges} range(s) differ` +
                    (repair ? `, ${k.pulled} row(s) pulled, ${k.repaired} repaired in place` : "")
            )
            if (!k.same) yield* out(ReportText.formatDifferences(k, repair))
          }
        }
        if (differing.length > 0 && !repair) {
          return yield* new LibrariesDiffer({
            reason: `${differing.map((k) => k.resource).join(", ")} differ from ${peer} (run again with --repair to pull them)`
          })
        }
      })
    )
).pipe(
  Command.withDescription(
    "Compare this device's library with a peer's by range fingerprints of rows and their contents; list the rows that differ; with --repair, take the peer's copies."
  )
)

const tidemark = Command.make("tidemark").pipe(
  Command.withDescription("Keep a library of files, folders and tags identical on every device."),
  Command.withSubcommands([init, join, generate, index, tag, dump, status, inspect, verify])
)

const cli = Command.run(tidemark, { name: "tidemark", version: VERSION })

// ---------------------------------------------------------------------------------------------------------
// Errors: one line each, and the exit code.

const plain = (doc: HelpDoc.HelpDoc) =>
  HelpDoc.toAnsiText(doc)
    .replace(/\u001b\[[0-9;]*m/g, "")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .join(" ")

/** What to print for a failure, and the exit code. */
const describeFailure = (error: unknown): { readonly line: string; readonly code: number } => {
  if (ValidationError.isValidationError(error)) {
    return { line: `${plain(error.error)} (see --help)`, code: 2 }
  }
  const e = error as { readonly _tag?: string; readonly message?: string }
  switch (e._tag) {
    case "UsageError":
    case "InvalidJoinCodeError":
      return { line: `${e.message} (see --help)`, code: 2 }
    default:
      return { line: e.message ?? String(error), code: 1 }
  }
}

/** Help and version text to stdout, @effect/cli's error printing dropped (we print its errors our way). */
const cliConsole = Effect.map(Effect.all([Effect.console, Output]), ([console, output]): Console.Console => ({
  ...console,
  log: (...args: ReadonlyArray<unknown>) => output.stdout(args.map(String).join(" ") + "\n"),
  error: () => Effect.void,
  unsafe: { ...console.unsafe, error: () => {} }
}))

const internalError = (cause: Cause.Cause<unknown>) => {
  const defect = Cause.squash(cause)
  return `internal error: ${defect instanceof Error ? defect.message : String(defect)}`
}

/**
 * Run the tool with `argv` as the process would see it (`[node, script, ...args]`) and return its exit code:
 * 0 success, 1 the operation failed, 2 bad arguments, 130 interrupted.
 */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<number, never, Output> =>
  Effect.gen(function* () {
    const output = yield* Output
    const console = yield* cliConsole
    const logger = Logger.make(({ logLevel, message }) => {
      const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
      output.stderr(`tidemark: ${logLevel.label.toLowerCase()}: ${text}\n`)
    })
    yield* cli(argv).pipe(
      Effect.provide(NodeContext.layer),
      Effect.withConsole(console),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger))
    )
    return 0
  }).pipe(
    Effect.catchAllCause((cause) => {
      if (Cause.isInterruptedOnly(cause)) return Effect.succeed(130)
      const failure = Cause.failureOption(cause)
      const { code, line } = Option.isSome(failure)
        ? describeFailure(failure.value)
        : { line: internalError(cause), code: 1 }
      return Effect.as(info(line), code)
    })
  )
