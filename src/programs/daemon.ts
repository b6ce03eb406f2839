#!/usr/bin/env node
// `node dist/programs/daemon.js`: runs one device from its data directory — serves peers, syncs with the
// peers it is given, notices rows other processes write, keeps folders indexed, and answers /metrics and
// /status on the control address. Only argument parsing and wiring live here; SIGINT/SIGTERM interrupt the
// main fiber (NodeRuntime.runMain), every scope closes, and the process exits 0.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Exit, FiberRef, HashSet, Logger, LogLevel, Option } from "effect"
import * as DataDir from "../app/DataDir.js"
import * as LocationWatcher from "../app/LocationWatcher.js"
import { Storage, Tidemark, Transport } from "../index.js"
import { limitHeapGrowth } from "./daemon/heap.js"
import { indexLocation } from "./daemon/locations.js"

const USAGE = `Usage: node dist/programs/daemon.js [options]

Runs a Tidemark device: serves its peers, syncs with the peers given, and keeps folders indexed.

Options:
  --data-dir DIR        the device's data directory (default: ${DataDir.defaultDataDir()};
                        create one with \`tidemark init\` or \`tidemark join\`)
  --listen HOST:PORT    where peers reach this device (default: 127.0.0.1:7470)
  --peer HOST:PORT      a peer to sync with; repeat for several
  --batch-size N        rows per page pulled from a peer (1-10000, default: ${Tidemark.defaultEngineOptions.batchSize})
  --split-backfill      split a kind's backfill over several peers by uuid range (off by default: on the
                        machines measured it was slower than one peer)
  --control HOST:PORT   serve GET /metrics (Prometheus) and GET /status (JSON) there
  --location PATH       a folder to keep indexed as a location; repeat for several
  --database URL        run the device as a hub: its stores in this PostgreSQL database
                        (postgres://user:password@host:port/db) instead of the data directory's SQLite
                        files; the identity stays in the data directory. Several daemons may serve one hub.
  --schema NAME         the hub's schema in that database (default: tidemark)
  --help                show this help

Environment: TIDEMARK_LOG=debug for more detail in the log.`

interface Args {
  readonly dataDir: string
  readonly listen: string
  readonly peers: ReadonlyArray<string>
  readonly batchSize: number
  readonly splitBackfill: boolean
  readonly control: string | undefined
  readonly locations: ReadonlyArray<string>
  readonly database: { readonly url: string; readonly schema: string } | undefined
}

class UsageError extends Error {}
class Failure extends Error {}

const parseArgs = (argv: ReadonlyArray<string>): Args | "help" => {
  let dataDir: string | undefined
  let listen = "127.0.0.1:7470"
  let batchSize = Tidemark.defaultEngineOptions.batchSize
  let splitBackfill = false
  let control: string | undefined
  let database: string | undefined
  let schema = "tidemark"
  const peers: Array<string> = []
  const locations: Array<string> = []
  const address = (flag: string, value: string) => {
    if (Option.isNone(Transport.parseAddress(value)))
      throw new UsageError(`${flag} ${value}: expected HOST:PORT`)
    return value
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--help" || arg === "-h") return "help"
    const eq = arg.indexOf("=")
    const flag = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg
    const value = (): string => {
      if (flag !== arg) return arg.slice(eq + 1)
      const next = argv[++i]
      if (next === undefined || next.startsWith("--")) throw new UsageError(`${flag} needs a value`)
      return next
    }
    switch (flag) {
      case "--data-dir":
        dataDir = value()
        break
      case "--listen":
        listen = address(flag, value())
        break
      case "--peer":
        peers.push(address(flag, value()))
        break
      case "--control":
        control = address(flag, value())
        break
      case "--location":
        locations.push(value())
        break
      case "--database":
        database = value()
        if (!/^postgres(ql)?:\/\//.test(database))
          throw new UsageError("--database: expected a postgres:// URL")
        break
      case "--schema":
        schema = value()
        break
      case "--batch-size": {
        const raw = value()
        const n = Number(raw)
        if (!Number.isInteger(n) || n < 1 || n > 10_000) {
          throw new UsageError(`--batch-size ${raw}: expected a whole number from 1 to 10000`)
        }
        batchSize = n
        break
      }
      case "--split-backfill":
        if (flag !== arg) throw new UsageError(`${flag} takes no value`)
        splitBackfill = true
        break
      default:
        throw new UsageError(
          arg.startsWith("-") ? `unknown option ${flag}` : `unexpected argument ${JSON.stringify(arg)}`
        )
    }
  }
  if (database !== undefined && locations.length > 0) {
    throw new UsageError(
      "--location indexes into the data directory's files: it cannot be used with --database"
    )
  }
  return {
    dataDir: dataDir ?? DataDir.defaultDataDir(),
    listen,
    peers,
    batchSize,
    splitBackfill,
    control,
    locations,
    database: database === undefined ? undefined : { url: database, schema }
  }
}

/** One line per log event on stderr: time, level, what happened. */
const logger = Logger.make(({ logLevel, message, cause, date }) => {
  const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
  const squashed = Cause.isEmpty(cause) ? undefined : Cause.squash(cause)
  const reason =
    squashed === undefined ? "" : `: ${squashed instanceof Error ? squashed.message : String(squashed)}`
  process.stderr.write(`${date.toISOString()} ${logLevel.label.padEnd(5)} ${text}${reason}\n`)
})

const run = (args: Args) =>
  Effect.gen(function* () {
    // Changing a V8 flag makes V8 refuse a code cache made afterwards, and the build makes the daemon's from
    // a start of the daemon (scripts/bundle.js, TIDEMARK_CODE_CACHE=write): not in that run.
    if (process.env.TIDEMARK_CODE_CACHE !== "write") limitHeapGrowth()
    const identity = yield* DataDir.load(args.dataDir)
    yield* Effect.logInfo(
      `Tidemark daemon for device ${identity.name} (${identity.deviceId}) of library ${identity.libraryId}, data in ${args.dataDir}`
    )
    if (args.database !== undefined) {
      yield* Effect.logInfo(
        `Serving as a hub: stores in ${Storage.describe(Storage.postgres(args.database))}`
      )
    }
    const engine = Tidemark.layer({
      ...DataDir.deviceConfig(args.dataDir, identity),
      ...(args.database === undefined ? {} : { storage: Storage.postgres(args.database) }),
      listen: args.listen,
      peers: args.peers,
      options: {
        batchSize: args.batchSize,
        ...(args.splitBackfill ? { splitMinRows: 2 * args.batchSize } : {})
      },
      liveMetrics: true
    })
    yield* Effect.gen(function* () {
      if (args.peers.length > 0) yield* Effect.logInfo(`Syncing with ${args.peers.join(", ")}`)
      if (args.control !== undefined) {
        // Loaded only here: it brings Node's HTTP server, which a daemon without --control never starts.
        const ControlServer = yield* Effect.promise(() => import("../app/ControlServer.js"))
        const at = yield* ControlServer.serve(args.control)
        yield* Effect.logInfo(`Control server at http://${at} (/metrics, /status)`)
      }
      for (const location of args.locations) {
        yield* Effect.forkScoped(
          LocationWatcher.watch(location, indexLocation(args.dataDir), {
            ...LocationWatcher.defaultWatchOptions,
            ignore: [args.dataDir]
          })
        )
      }
      // Finalizers run last-in first-out: this line comes first when the daemon is asked to stop.
      yield* Effect.addFinalizer(() => Effect.logInfo("Shutting down: closing peer connections and stores"))
      return yield* Effect.never
    }).pipe(Effect.scoped, Effect.provide(engine))
  }).pipe(
    Effect.onInterrupt(() => Effect.logInfo("Stopped")),
    Effect.catchAll((e) => Effect.fail(new Failure(e.message)))
  )

const main = Effect.suspend(() => {
  let args: Args | "help"
  try {
    args = parseArgs(process.argv.slice(2))
  } catch (e) {
    return Effect.fail(e as UsageError)
  }
  if (args === "help") return Effect.sync(() => void process.stdout.write(USAGE + "\n"))
  return run(args)
}).pipe(
  Effect.tapErrorCause((cause) =>
    Effect.sync(() => {
      const error = Cause.failureOption(cause)
      if (Option.isSome(error)) {
        const usage = error.value instanceof UsageError ? " (see --help)" : ""
        process.stderr.write(`tidemark daemon: ${error.value.message}${usage}\n`)
      } else if (!Cause.isInterruptedOnly(cause)) {
        process.stderr.write(`tidemark daemon: internal error\n${Cause.pretty(cause)}\n`)
      }
    })
  ),
  // Only this logger: runMain would otherwise add its pretty logger next to it.
  Effect.locally(FiberRef.currentLoggers, HashSet.make(logger)),
  // The daemon exports no traces: a span made for every statement and request would only be dropped.
  Effect.withTracerEnabled(false),
  Logger.withMinimumLogLevel(process.env.TIDEMARK_LOG === "debug" ? LogLevel.Debug : LogLevel.Info)
)

NodeRuntime.runMain(main, {
  disableErrorReporting: true,
  teardown: (exit, onExit) => {
    if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return onExit(0)
    const error = Cause.failureOption(exit.cause)
    onExit(Option.isSome(error) && error.value instanceof UsageError ? 2 : 1)
  }
})
