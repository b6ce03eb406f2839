// The `tidemark` command-line tool as a function from arguments to an exit code: parses arguments, runs the
// command's work (./commands.ts, loaded only when a command runs, so --help, --version and bad arguments do
// not load the engine) and prints its result (JSON on stdout for scripts; progress and errors on stderr).
// Keeps the public contract of docs/cli.md: every failure is one line on stderr starting with "tidemark: "
// and a non-zero exit (1 when the operation failed, 2 for bad arguments), never a stack trace. The bin
// (../cli.ts) runs it against the process's streams; tests run it in-process against memory.
import { Args, Command, Options, ValidationError } from "@effect/cli"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Cause, type Console, Effect, Logger, LogLevel, Option } from "effect"
import { defaultDataDir } from "../../app/DefaultDataDir.js"
import { info, Output } from "./output.js"
import { VERSION } from "./version.js"

export { Output } from "./output.js"

// ---------------------------------------------------------------------------------------------------------
// Shared options and arguments.

const dataDir = Options.directory("data-dir", { exists: "either" }).pipe(
  Options.withDefault(defaultDataDir()),
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
// Commands: their arguments here, their work in ./commands.ts.

/** The commands' work, evaluated the first time a command runs. */
const work = Effect.promise(() => import("./commands.js"))

const init = Command.make("init", { dataDir, name: deviceName }, (a) =>
  Effect.flatMap(work, (c) => c.init(a))
).pipe(Command.withDescription("Create a new library with this device as its first member."))

const join = Command.make(
  "join",
  {
    dataDir,
    code: Options.text("code").pipe(Options.withDescription("The join code printed by `tidemark init`.")),
    name: deviceName
  },
  (a) => Effect.flatMap(work, (c) => c.join(a))
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
  (a) => Effect.flatMap(work, (c) => c.generate(a))
).pipe(Command.withDescription("Write synthetic library data (locations, a folder tree of entries, tags)."))

const index = Command.make(
  "index",
  {
    dataDir,
    path: Args.directory({ name: "PATH", exists: "either" }).pipe(
      Args.withDescription("The folder to index.")
    )
  },
  (a) => Effect.flatMap(work, (c) => c.index(a))
).pipe(
  Command.withDescription("Index a folder as a location; re-run to pick up changed, new and removed files.")
)

const tagAdd = Command.make(
  "add",
  { dataDir, name: Options.text("name").pipe(Options.withDescription("The tag's name.")) },
  (a) => Effect.flatMap(work, (c) => c.tagAdd(a))
).pipe(Command.withDescription("Create a tag; prints its uuid."))

const tagRename = Command.make(
  "rename",
  {
    dataDir,
    uuid: uuidArg("UUID", "The tag."),
    name: Args.text({ name: "NAME" }).pipe(Args.withDescription("Its new name."))
  },
  (a) => Effect.flatMap(work, (c) => c.tagRename(a))
).pipe(Command.withDescription("Rename a tag."))

const tagDelete = Command.make("delete", { dataDir, uuid: uuidArg("UUID", "The tag.") }, (a) =>
  Effect.flatMap(work, (c) => c.tagDelete(a))
).pipe(Command.withDescription("Delete a tag."))

const tagAssign = Command.make(
  "assign",
  { dataDir, tag: uuidArg("TAG_UUID", "The tag."), entry: uuidArg("ENTRY_UUID", "The entry to tag.") },
  (a) => Effect.flatMap(work, (c) => c.tagAssign(a))
).pipe(
  Command.withDescription("Tag an entry (assigning twice changes nothing); prints the assignment's uuid.")
)

const tag = Command.make("tag").pipe(
  Command.withDescription("Add, rename, delete and assign tags."),
  Command.withSubcommands([tagAdd, tagRename, tagDelete, tagAssign])
)

const dump = Command.make("dump", { dataDir }, (a) => Effect.flatMap(work, (c) => c.dump(a))).pipe(
  Command.withDescription("Print the library as canonical JSON lines, sorted by resource then uuid.")
)

const status = Command.make("status", { dataDir, json: json_ }, (a) =>
  Effect.flatMap(work, (c) => c.status(a))
).pipe(Command.withDescription("Show peers, watermarks, backfill progress, counters and last errors."))

const inspect = Command.make("inspect", { dataDir, json: json_ }, (a) =>
  Effect.flatMap(work, (c) => c.inspect(a))
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

const verify = Command.make("verify", { dataDir, peer: peerAddress, repair, json: json_ }, (a) =>
  Effect.flatMap(work, (c) => c.verify(a))
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
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      // Warnings and errors only, unless --log-level asks for more (it applies inside this): an info line
      // from opening the data directory (a recovery) would break the one-line failure of docs/cli.md.
      Logger.withMinimumLogLevel(LogLevel.Warning)
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
