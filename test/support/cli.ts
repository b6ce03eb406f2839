// Running the command-line tool from tests: in-process (fast: the same code the bin runs, against memory
// streams) or as the built bin (`node dist/programs/cli.js`, for exit codes and process behaviour).
import { Effect, Layer } from "effect"
import { execFile } from "node:child_process"
import { join } from "node:path"
import { Output, run } from "../../src/programs/cli/app.js"

export const CLI = join(import.meta.dirname, "..", "..", "dist", "programs", "cli.js")

export interface CliResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Run `tidemark ...args` in this process; never fails (a non-zero exit is a result). */
export const runCli = (args: ReadonlyArray<string>): Effect.Effect<CliResult> =>
  Effect.suspend(() => {
    let stdout = ""
    let stderr = ""
    const output = Layer.succeed(Output, {
      stdout: (text) =>
        Effect.sync(() => {
          stdout += text
        }),
      stderr: (text) => {
        stderr += text
      }
    })
    return Effect.map(Effect.provide(run(["node", "tidemark", ...args]), output), (code) => ({
      code,
      stdout,
      stderr
    }))
  })

/** Run the built bin `node dist/programs/cli.js ...args`; never fails (a non-zero exit is a result). */
export const spawnCli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.async<CliResult>((resume) => {
    const child = execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, ...env }, maxBuffer: 256 * 1024 * 1024, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
        resume(Effect.succeed({ code, stdout, stderr }))
      }
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** Run and expect success; fails the test with the tool's stderr otherwise. */
export const cliOk = (args: ReadonlyArray<string>) =>
  Effect.flatMap(runCli(args), (r) =>
    r.code === 0
      ? Effect.succeed(r.stdout)
      : Effect.die(new Error(`tidemark ${args.join(" ")} exited ${r.code}: ${r.stderr}`))
  )

/** The one JSON line a command printed. */
export const cliJson = <A = Record<string, unknown>>(args: ReadonlyArray<string>) =>
  Effect.map(cliOk(args), (stdout) => JSON.parse(stdout) as A)

/** Dump lines parsed. */
export const dumpOf = (dir: string) =>
  Effect.map(cliOk(["dump", "--data-dir", dir]), (stdout) =>
    stdout
      .split("\n")
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
  )
