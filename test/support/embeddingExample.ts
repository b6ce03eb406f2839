// The complete app of docs/embedding.md, as tests compile and run it: the exact code block the page shows
// (found after its marker comment), a strict tsconfig to compile it with, and child processes run to an
// exit code (the compiler, node, npm).
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"

export const ROOT = join(import.meta.dirname, "..", "..")
export const DOC = join(ROOT, "docs", "embedding.md")
/** Our own compiler, run by path: an app's project needs no TypeScript of its own for the test. */
export const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc")
const MARKER = "<!-- embedding-example"

/** What the example prints when the note written on the laptop reaches the phone. */
export const EXPECTED_LINE = 'phone saw remote note "milk"'

/** The first ```ts block after the marker comment in docs/embedding.md, exactly as the page shows it. */
export const exampleSource = (markdown: string = readFileSync(DOC, "utf8")): string => {
  const marker = markdown.indexOf(MARKER)
  if (marker < 0) throw new Error(`${DOC} has no ${MARKER} comment`)
  const open = markdown.indexOf("```ts\n", marker)
  if (open < 0) throw new Error(`${DOC} has no \`\`\`ts block after ${MARKER}`)
  const start = open + "```ts\n".length
  const end = markdown.indexOf("\n```", start)
  if (end < 0) throw new Error(`${DOC}: the example's code block is not closed`)
  return markdown.slice(start, end + 1)
}

/**
 * Write the example as `app.ts` into `dir` with a tsconfig an application would use (strict, NodeNext),
 * compiling to `out/app.js`. `extra` adds compiler options (a rootDir for self-reference).
 */
export const writeProject = (dir: string, source: string, extra: Record<string, unknown> = {}) => {
  writeFileSync(join(dir, "app.ts"), source)
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify(
      {
        compilerOptions: {
          strict: true,
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          // The package's declarations need no @types: nothing of node's types crosses its API.
          types: [],
          skipLibCheck: true,
          outDir: "out",
          ...extra
        },
        files: ["app.ts"]
      },
      null,
      2
    )
  )
}

export interface ProcessResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Run `command args` in `cwd` to its exit; a non-zero exit is a result, not a failure. Killed after `timeoutMs`. */
export const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly timeoutMs: number; readonly env?: NodeJS.ProcessEnv }
): Effect.Effect<ProcessResult> =>
  Effect.async<ProcessResult>((resume) => {
    const child = execFile(
      command,
      [...args],
      {
        cwd: options.cwd,
        timeout: options.timeoutMs,
        maxBuffer: 64 * 1024 * 1024,
        env: options.env ?? process.env
      },
      (error, stdout, stderr) =>
        resume(
          Effect.succeed({
            code: error === null ? 0 : typeof error.code === "number" ? error.code : null,
            stdout,
            stderr:
              error !== null && error.killed ? `${stderr}\n(killed after ${options.timeoutMs} ms)` : stderr
          })
        )
    )
    return Effect.sync(() => child.kill())
  })

/** A process result as a test failure message: the command's output, so a broken example says why. */
export const describeResult = (what: string, r: ProcessResult) =>
  `${what} exited with ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`
