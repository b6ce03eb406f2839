// A throwaway PostgreSQL 15 server for tests: `initdb` into a temporary directory, start it on a free port,
// stop it and remove the directory when the scope closes. The server refuses to run as root, so as root the
// binaries run as the `postgres` user in a directory that user owns. Where no binaries exist, the tests that
// need them are skipped with a notice on stderr, unless TIDEMARK_REQUIRE_POSTGRES=1 (CI), where that is a
// failure (see postgres.ts). This module imports nothing of vitest, so benchmarks can use it too.
import { Effect, type Scope } from "effect"
import { execFileSync } from "node:child_process"
import { chownSync, existsSync, mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

const CANDIDATE_BIN_DIRS = [
  "/usr/lib/postgresql/15/bin",
  "/usr/lib/postgresql/16/bin",
  "/usr/lib/postgresql/17/bin"
]

/**
 * The directory holding `initdb`, `pg_ctl` and `postgres`, or undefined where PostgreSQL is not installed.
 * TIDEMARK_POSTGRES_BIN, when set, is the only place looked at.
 */
export const postgresBinDir: string | undefined = (
  process.env.TIDEMARK_POSTGRES_BIN === undefined ? CANDIDATE_BIN_DIRS : [process.env.TIDEMARK_POSTGRES_BIN]
).find((dir) => existsSync(join(dir, "initdb")))

/** A running test server. `url` reaches its `postgres` database as the superuser `postgres`. */
export interface TestPostgres {
  readonly port: number
  readonly url: string
  /** `url` for another database of the same server. */
  readonly urlOf: (database: string) => string
}

const asRoot = typeof process.getuid === "function" && process.getuid() === 0

/** Run a PostgreSQL binary, as the `postgres` user when we are root. */
const run = (binary: string, args: ReadonlyArray<string>) => {
  const path = join(postgresBinDir!, binary)
  return asRoot
    ? execFileSync("runuser", ["-u", "postgres", "--", path, ...args], { stdio: "pipe" })
    : execFileSync(path, [...args], { stdio: "pipe" })
}

const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const uidOf = (user: string) => Number(execFileSync("id", ["-u", user]).toString().trim())
const gidOf = (user: string) => Number(execFileSync("id", ["-g", user]).toString().trim())

/**
 * Start a fresh server; it stops (immediately: nothing in it is meant to outlive the test) and its directory
 * is removed when the scope closes. Durability settings are off: the tests are about concurrency, not disks.
 */
export const startPostgres: Effect.Effect<TestPostgres, Error, Scope.Scope> = Effect.gen(function* () {
  if (postgresBinDir === undefined) return yield* Effect.fail(new Error("PostgreSQL binaries not found"))
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => {
      const dir = mkdtempSync(join(tmpdir(), "tidemark-pg-"))
      if (asRoot) chownSync(dir, uidOf("postgres"), gidOf("postgres"))
      return dir
    }),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
  const data = join(dir, "data")
  const port = yield* freePort
  yield* Effect.try({
    try: () => run("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]),
    catch: (e) => new Error(`initdb failed: ${String(e)}`)
  })
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses=127.0.0.1",
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
    "-c max_connections=200"
  ].join(" ")
  yield* Effect.acquireRelease(
    Effect.try({
      try: () =>
        run("pg_ctl", ["-D", data, "-o", options, "-l", join(dir, "log"), "-w", "-t", "30", "start"]),
      catch: (e) => new Error(`pg_ctl start failed: ${String(e)}`)
    }),
    () =>
      Effect.sync(() => {
        try {
          run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
        } catch {
          // Already gone (a test killed it): nothing to stop.
        }
      })
  )
  const urlOf = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`
  return { port, url: urlOf("postgres"), urlOf }
})
