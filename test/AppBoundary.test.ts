// The file library application (src/app) and the daemon and CLI (src/programs) are built only on the public
// API: they may import src/index.ts, the file library's schema (src/domain/FileLibrary.ts), each other, and
// packages — never the engine's services, layers or other domain modules. The benchmarks (src/programs/bench*)
// measure engine internals and the simulator's runner (src/programs/simulate.ts) drives them: both are exempt. docs/architecture.md states the same rule.
import { describe, expect, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"

const ROOT = resolve(import.meta.dirname, "..")
const SRC = join(ROOT, "src")

/** Files of the application side, as paths relative to the repository. */
const applicationFiles = (): ReadonlyArray<string> => {
  const walk = (dir: string): Array<string> =>
    readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
      d.isDirectory() ? walk(join(dir, d.name)) : d.name.endsWith(".ts") ? [join(dir, d.name)] : []
    )
  return [...walk(join(SRC, "app")), ...walk(join(SRC, "programs"))]
    .map((f) => relative(ROOT, f))
    .filter((f) => !isExempt(f))
    .sort()
}

const isExempt = (path: string) =>
  path === "src/programs/bench.ts" ||
  path.startsWith("src/programs/bench/") ||
  path === "src/programs/simulate.ts"

/** May application code at `from` import the repository file `target`? */
const allowed = (target: string) =>
  target === "src/index.ts" ||
  target === "src/domain/FileLibrary.ts" ||
  target.startsWith("src/app/") ||
  (target.startsWith("src/programs/") && !isExempt(target))

/** The modules `source` (the text of the file at `path`) imports that it may not, as repository paths. */
const forbiddenImports = (path: string, source: string): ReadonlyArray<string> => {
  const specifiers = [
    ...source.matchAll(/(?:^|\n)\s*(?:import|export)\b[^"'`;]*?\bfrom\s*["']([^"']+)["']/g),
    ...source.matchAll(/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g),
    ...source.matchAll(/(?:^|\n)\s*import\s*["']([^"']+)["']/g)
  ].map((m) => m[1]!)
  return specifiers
    .filter((s) => s.startsWith("."))
    .map((s) => relative(ROOT, resolve(ROOT, dirname(path), s)).replace(/\.js$/, ".ts"))
    .filter((target) => !allowed(target))
}

describe("the application's boundary", () => {
  it("the checker finds an import of an engine internal, static or dynamic", () => {
    const source = [
      `import * as Device from "../layers/Device.js"`,
      `import { Tidemark } from "../index.js"`,
      `import type { Kinds } from "../services/Kinds.js"`,
      `export { x } from "./cli/app.js"`,
      `const m = await import("../domain/Row.js")`
    ].join("\n")
    expect(forbiddenImports("src/programs/daemon.ts", source)).toEqual([
      "src/layers/Device.ts",
      "src/services/Kinds.ts",
      "src/domain/Row.ts"
    ])
  })

  it("src/app and src/programs import only the public API, the file library's schema and each other", () => {
    const files = applicationFiles()
    expect(files).toContain("src/programs/daemon.ts")
    expect(files).toContain("src/programs/cli/app.ts")
    const offenders = files.flatMap((f) =>
      forbiddenImports(f, readFileSync(join(ROOT, f), "utf8")).map((target) => `${f} imports ${target}`)
    )
    expect(offenders).toEqual([])
  })
})
