// Real daemon processes for end-to-end tests: `node dist/programs/daemon.js` on free loopback ports, killed
// when the test's scope closes. Data directories are made with layers/DataDir.ts directly, and rows are
// written and read by opening the data directory in the test process (SQLite WAL lets the daemon keep it open).
import { Deferred, Duration, Effect, Layer } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import * as Net from "node:net"
import { join } from "node:path"
import { newUuid, type Uuid } from "../../src/domain/Ids.js"
import type { ResourceType } from "../../src/domain/Resource.js"
import * as DataDir from "../../src/app/DataDir.js"
import * as Device from "../../src/layers/Device.js"
import { dumpLines } from "../../src/services/Dump.js"
import { Library } from "../../src/services/Library.js"

export const DAEMON = join(import.meta.dirname, "..", "..", "dist", "programs", "daemon.js")

/** A port nobody listens on right now: bind port 0, read it, close. */
export const freePort = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address() as Net.AddressInfo
    server.close(() => resume(Effect.succeed(address.port)))
  })
})

export const freeAddress = Effect.map(freePort, (port) => `127.0.0.1:${port}`)

export interface Daemon {
  readonly dir: string
  readonly listen: string
  readonly process: ChildProcess
  /** Everything it logged so far. */
  readonly log: () => string
  /** Resolves with the exit code (or the signal's name). */
  readonly exited: Effect.Effect<number | string>
}

/** Start a daemon in the current scope; it is SIGKILLed when the scope closes if it still runs. */
export const start = (
  dir: string,
  options: {
    readonly listen: string
    readonly peers?: ReadonlyArray<string>
    readonly control?: string
    readonly extra?: ReadonlyArray<string>
  }
) =>
  Effect.gen(function* () {
    const args = [DAEMON, "--data-dir", dir, "--listen", options.listen]
    for (const peer of options.peers ?? []) args.push("--peer", peer)
    if (options.control !== undefined) args.push("--control", options.control)
    args.push(...(options.extra ?? []))
    const exit = yield* Deferred.make<number | string>()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] })
        child.once("exit", (code, signal) => Deferred.unsafeDone(exit, Effect.succeed(code ?? signal ?? -1)))
        return child
      }),
      (child) =>
        Effect.suspend(() => {
          if (child.exitCode !== null || child.signalCode !== null) return Effect.void
          child.kill("SIGKILL")
          return Effect.asVoid(Deferred.await(exit))
        })
    )
    let output = ""
    child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()))
    const daemon: Daemon = {
      dir,
      listen: options.listen,
      process: child,
      log: () => output,
      exited: Deferred.await(exit)
    }
    yield* waitForLog(daemon, `Listening for peers at ${options.listen}`)
    return daemon
  })

/** Wait until the daemon has logged `text`. */
export const waitForLog = (daemon: Daemon, text: string, timeout: Duration.DurationInput = "15 seconds") =>
  Effect.gen(function* () {
    while (!daemon.log().includes(text)) {
      if (daemon.process.exitCode !== null) {
        return yield* Effect.fail(new Error(`daemon exited before logging "${text}":\n${daemon.log()}`))
      }
      yield* Effect.sleep("25 millis")
    }
  }).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new Error(`daemon did not log "${text}" in time:\n${daemon.log()}`)
    })
  )

/** When `effect` fails, attach what the daemons logged to the error (a failing end-to-end test explains itself). */
export const explained =
  (daemons: ReadonlyArray<Daemon>) =>
  <A, R>(effect: Effect.Effect<A, Error, R>): Effect.Effect<A, Error, R> =>
    Effect.mapError(
      effect,
      (e) =>
        new Error(
          [e.message, ...daemons.map((d) => `--- daemon on ${d.listen} (${d.dir}) ---\n${d.log()}`)].join(
            "\n"
          )
        )
    )

/** SIGTERM and wait for the exit code. */
export const stop = (daemon: Daemon) =>
  Effect.zipRight(
    Effect.sync(() => daemon.process.kill("SIGTERM")),
    daemon.exited
  )

export const identityOf = (dir: string) => Effect.orDie(DataDir.load(dir))

const device = (dir: string) => Effect.map(identityOf(dir), (identity) => Device.layerSqlite(dir, identity))

/** Write rows into the data directory from this process (as another process next to the daemon would). */
export const write = (
  dir: string,
  resource: ResourceType,
  fields: Record<string, unknown>,
  uuid: Uuid = newUuid()
) =>
  Effect.flatMap(device(dir), (layer) =>
    Effect.flatMap(Library, (library) => library.write(resource, [{ uuid, fields }])).pipe(
      Effect.provide(layer),
      Effect.as(uuid)
    )
  )

/** The canonical dump of the data directory, read from this process. */
export const dump = (dir: string) =>
  Effect.flatMap(device(dir), (layer) => Effect.provide(dumpLines, Layer.orDie(layer)))

/** Poll the dump until `check` holds. */
export const eventually = (
  dir: string,
  check: (lines: ReadonlyArray<string>) => boolean,
  timeout: Duration.DurationInput = "15 seconds"
) =>
  Effect.gen(function* () {
    for (;;) {
      const lines = yield* dump(dir)
      if (check(lines)) return lines
      yield* Effect.sleep("50 millis")
    }
  }).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new Error(`${dir} did not reach the expected state in time`)
    })
  )

/** Poll until all data directories dump the same lines and `check` holds. */
export const converged = (
  dirs: ReadonlyArray<string>,
  check: (lines: ReadonlyArray<string>) => boolean,
  timeout: Duration.DurationInput = "15 seconds"
) =>
  Effect.gen(function* () {
    for (;;) {
      const dumps = yield* Effect.forEach(dirs, dump)
      const first = dumps[0]!.join("\n")
      if (dumps.every((d) => d.join("\n") === first) && check(dumps[0]!)) return dumps[0]!
      yield* Effect.sleep("50 millis")
    }
  }).pipe(
    Effect.timeoutFail({
      duration: timeout,
      onTimeout: () => new Error(`${dirs.join(", ")} did not converge in time`)
    })
  )

/** Replace the library secret in a data directory's device.json (a device that no longer knows it). */
export const corruptSecret = (dir: string) =>
  Effect.sync(() => {
    const file = join(dir, DataDir.DEVICE_FILE)
    const identity = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>
    writeFileSync(file, JSON.stringify({ ...identity, secret: "not-the-library-secret" }))
  })

/** Run a daemon to completion with these arguments (for flag errors); returns exit code and output. */
export const runToExit = (args: ReadonlyArray<string>) =>
  Effect.async<{ code: number | null; stdout: string; stderr: string }>((resume) => {
    const child = spawn(process.execPath, [DAEMON, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()))
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()))
    child.once("close", (code) => resume(Effect.succeed({ code, stdout, stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })
