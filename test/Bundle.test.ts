// The built programs start from their bundles with the code cache the build made (scripts/bundle.js,
// scripts/launcher.js): V8 accepts each cache on this node. A cache V8 refuses (made after a program
// changed a V8 flag, or for another bundle) costs about a third of every start, and nothing else shows it.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFile, spawn } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { CLI, spawnCli } from "./support/cli.js"
import { tempDir } from "./support/tempDir.js"

const CHECK = { TIDEMARK_CODE_CACHE: "check" }
const DAEMON = join(import.meta.dirname, "..", "dist", "programs", "daemon.js")

const spawnNode = (args: ReadonlyArray<string>) =>
  Effect.async<{ code: number; stderr: string }>((resume) => {
    const child = execFile(
      process.execPath,
      [...args],
      { env: { ...process.env, ...CHECK } },
      (error, _, stderr) => resume(Effect.succeed({ code: error === null ? 0 : 1, stderr }))
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** Start the daemon on `dir` until it logs "Listening", then stop it; what it printed on stderr. */
const startDaemon = (dir: string) => startDaemonWith([], dir)

/** `startDaemon` with `nodeArgs` given to node. */
const startDaemonWith = (nodeArgs: ReadonlyArray<string>, dir: string) =>
  Effect.async<string>((resume) => {
    const child = spawn(
      process.execPath,
      [...nodeArgs, DAEMON, "--data-dir", dir, "--listen", "127.0.0.1:0"],
      {
        env: { ...process.env, ...CHECK },
        stdio: ["ignore", "ignore", "pipe"]
      }
    )
    let stderr = ""
    let stopping = false
    child.stderr.setEncoding("utf8")
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk
      if (!stopping && stderr.includes("Listening")) {
        stopping = true
        child.kill("SIGTERM")
      }
    })
    child.once("close", () => resume(Effect.succeed(stderr)))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

describe("the bundled programs", () => {
  it.scopedLive("start with the code cache the build made, and V8 accepts it", () =>
    Effect.gen(function* () {
      const dir = join(yield* tempDir("tidemark-bundle-"), "d")
      const init = yield* spawnCli(["init", "--data-dir", dir, "--name", "bundle"], CHECK)
      expect(init.code, init.stderr).toBe(0)
      expect(init.stderr).toMatch(/^code cache accepted: .*main\.bundle\.cjs\.cache$/m)
      const daemon = yield* spawnNode([DAEMON, "--help"])
      expect(daemon.code, daemon.stderr).toBe(0)
      expect(daemon.stderr).toMatch(/^code cache accepted: .*daemon\.bundle\.cjs\.cache$/m)
      // The daemon's cache is made by a start (scripts/bundle.js), which must not change a V8 flag first.
      const started = yield* startDaemon(dir)
      expect(started).toContain("Listening")
      expect(started).toMatch(/^code cache accepted: .*daemon\.bundle\.cjs\.cache$/m)
    })
  )

  it("carry a stand-in for @effect/cli's yaml, toml and ini parsers, which the programs never use", () => {
    const tool = readFileSync(
      join(import.meta.dirname, "..", "dist", "programs", "cli", "main.bundle.cjs"),
      "utf8"
    )
    expect(tool).toContain("reading yaml, toml or ini files is not part of this build")
    expect(tool).not.toContain("YAMLParseError")
  })

  it.scopedLive("a command that only opens a device loads neither TLS nor MessagePack's native decoder", () =>
    Effect.gen(function* () {
      const root = yield* tempDir("tidemark-bundle-")
      const dir = join(root, "d")
      expect((yield* spawnCli(["init", "--data-dir", dir, "--name", "lazy"])).code).toBe(0)
      // Preloaded into the bin's process: at exit, what it loaded.
      const hook = join(root, "loaded.cjs")
      writeFileSync(
        hook,
        `process.on("exit", () => process.stderr.write("loaded " + JSON.stringify({
          tls: process.moduleLoadList.includes("NativeModule tls"),
          msgpackrExtract: Object.keys(require.cache).some((k) => k.includes("msgpackr-extract"))
        }) + "\\n"))`
      )
      const status = yield* spawnNode(["--require", hook, CLI, "status", "--data-dir", dir, "--json"])
      expect(status.code, status.stderr).toBe(0)
      expect(status.stderr).toContain('loaded {"tls":false,"msgpackrExtract":false}')
      // The daemon, which serves peers, does load them: the check can see them.
      const daemon = yield* startDaemonWith(["--require", hook], dir)
      expect(daemon).toContain('loaded {"tls":true,"msgpackrExtract":true}')
    })
  )
})
