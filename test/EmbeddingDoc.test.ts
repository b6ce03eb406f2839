// docs/embedding.md's complete app, run as the page shows it: the exact code block is extracted from the
// page, compiled with `tsc --strict` against the built package (it imports "tidemark" by name, resolved
// through package.json's exports by self-reference) and run with node. A change to the page that breaks
// the example, or a change to the package that breaks the page, fails here.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { join } from "node:path"
import {
  describeResult,
  EXPECTED_LINE,
  exampleSource,
  ROOT,
  run,
  TSC,
  writeProject
} from "./support/embeddingExample.js"

/** A project directory inside the repository (tmp/ is ignored by git), so "tidemark" resolves to us. */
const projectDir = Effect.acquireRelease(
  Effect.sync(() => {
    mkdirSync(join(ROOT, "tmp"), { recursive: true })
    return mkdtempSync(join(ROOT, "tmp", "embedding-doc-"))
  }),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const compile = (dir: string, source: string) =>
  Effect.gen(function* () {
    // rootDir: self-reference maps the package's exports through its own project, which needs a root.
    writeProject(dir, source, { rootDir: "." })
    return yield* run(process.execPath, [TSC, "-p", "tsconfig.json"], { cwd: dir, timeoutMs: 60_000 })
  })

describe("docs/embedding.md", () => {
  it("shows a complete app of at most 30 lines that imports only effect and the package by name", () => {
    const source = exampleSource()
    const lines = source.trimEnd().split("\n")
    expect(lines.length).toBeLessThanOrEqual(30)
    const imported = [...source.matchAll(/from "([^"]+)"/g)].map((m) => m[1])
    expect(new Set(imported)).toEqual(new Set(["effect", "tidemark"]))
  })

  it.scopedLive(
    "its complete app compiles with --strict, sees the laptop's note arrive on the phone, and exits by itself",
    () =>
      Effect.gen(function* () {
        expect(existsSync(join(ROOT, "dist", "index.d.ts")), "run `npm run build` first").toBe(true)
        const dir = yield* projectDir
        const compiled = yield* compile(dir, exampleSource())
        expect(compiled.code, describeResult("tsc", compiled)).toBe(0)
        const ran = yield* run(process.execPath, [join("out", "app.js")], { cwd: dir, timeoutMs: 30_000 })
        expect(ran.code, describeResult("node out/app.js", ran)).toBe(0)
        // The engine logs to stdout too; the app's own line is the one that matters.
        expect(ran.stdout.split("\n")).toContain(EXPECTED_LINE)
      }),
    90_000
  )

  it.scopedLive(
    "a broken example fails the check: a mistyped field does not compile",
    () =>
      Effect.gen(function* () {
        const source = exampleSource()
        const broken = source.replace('{ title: "milk", done: false }', '{ title: "milk", done: "no" }')
        expect(broken).not.toBe(source)
        const compiled = yield* compile(yield* projectDir, broken)
        expect(compiled.code).not.toBe(0)
        expect(compiled.stdout).toContain("app.ts")
      }),
    90_000
  )
})
