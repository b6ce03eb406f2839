// The package as an application installs it: `npm pack` makes the tarball (its contents checked: the built
// entry points and their declarations, no tests, sources or source maps), an empty directory installs it
// with the `effect` we build against, and docs/embedding.md's complete app compiles there with `tsc --strict`
// against the installed declarations and runs. Nothing of the repository is visible to that directory: it
// lies outside it, and only the compiler is ours (run by path).
//
// better-sqlite3 compiles from source on install here (about 100 s on a loaded 2-core machine). Unless
// TIDEMARK_PACK_FROM_SOURCE=1, its own install script is handed the binary our `npm ci` built from the same
// version, through prebuild-install's local-prebuilds directory: the same path a downloaded prebuild takes.
// A different version or platform finds no local prebuild and compiles, as it would for an application.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"
import {
  describeResult,
  EXPECTED_LINE,
  exampleSource,
  ROOT,
  run,
  TSC,
  writeProject
} from "./support/embeddingExample.js"
import { tempDir } from "./support/tempDir.js"

const NPM = process.platform === "win32" ? "npm.cmd" : "npm"
const effectVersion = (
  JSON.parse(readFileSync(join(ROOT, "node_modules", "effect", "package.json"), "utf8")) as {
    version: string
  }
).version

/** npm's environment without what `npm test` set for this repository (its prefix, its package). */
const npmEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_package_|npm_lifecycle_|npm_config_(local_|global_)?prefix$|INIT_CWD$)/.test(k)) continue
    env[k] = v
  }
  return { ...env, npm_config_nodedir: process.env["npm_config_nodedir"] ?? "/usr", ...extra }
}

/** Every file under `dir`, relative to it. */
const filesUnder = (dir: string): Array<string> =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))

/** A prebuild-install archive of our own better-sqlite3 binary, in `dir`; none if we have no binary. */
const localPrebuild = (dir: string) =>
  Effect.gen(function* () {
    const pkg = join(ROOT, "node_modules", "better-sqlite3")
    const binary = join(pkg, "build", "Release", "better_sqlite3.node")
    if (process.env["TIDEMARK_PACK_FROM_SOURCE"] === "1" || !existsSync(binary)) return {}
    const { version } = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")) as { version: string }
    const stage = join(dir, "stage", "build", "Release")
    mkdirSync(stage, { recursive: true })
    writeFileSync(join(stage, "better_sqlite3.node"), readFileSync(binary))
    const archive = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`
    const tar = yield* run("tar", ["-czf", join(dir, archive), "-C", join(dir, "stage"), "build"], {
      cwd: dir,
      timeoutMs: 30_000
    })
    expect(tar.code, describeResult("tar", tar)).toBe(0)
    return { npm_config_better_sqlite3_local_prebuilds: dir }
  })

describe("the packed package", () => {
  it.effect("holds the built entry points and their declarations, and no tests, sources or source maps", () =>
    Effect.gen(function* () {
      // A file left in dist/ by an older build would be packed too.
      const stale = filesUnder(join(ROOT, "dist"))
        .filter((f) => f.endsWith(".js"))
        .filter((f) => !existsSync(join(ROOT, "src", f.replace(/\.js$/, ".ts"))))
      expect(stale, "dist/ holds files no source builds: rm -rf dist && npm run build").toEqual([])
      const pack = yield* run(NPM, ["pack", "--dry-run", "--json", "--ignore-scripts"], {
        cwd: ROOT,
        timeoutMs: 60_000,
        env: npmEnv({})
      })
      expect(pack.code, describeResult("npm pack --dry-run", pack)).toBe(0)
      const [manifest] = JSON.parse(pack.stdout) as Array<{ files: Array<{ path: string }> }>
      const files = manifest!.files.map((f) => f.path)
      for (const entry of ["dist/index.js", "dist/index.d.ts", "dist/testing.js", "dist/testing.d.ts"]) {
        expect(files).toContain(entry)
      }
      expect(files).toContain("dist/programs/cli.js") // the bin
      expect(files.filter((f) => !f.startsWith("dist/"))).toEqual(
        expect.arrayContaining(["package.json", "README.md"])
      )
      expect(
        files.filter((f) => !f.startsWith("dist/") && f !== "package.json" && f !== "README.md")
      ).toEqual([])
      expect(files.filter((f) => f.endsWith(".map"))).toEqual([])
      expect(files.filter((f) => /\.test\.|\.ts$/.test(f) && !f.endsWith(".d.ts"))).toEqual([])
      expect(files.filter((f) => f.startsWith("dist/programs/bench"))).toEqual([])
    })
  )

  it.scopedLive(
    "installs into an empty directory, where the embedding example compiles with tsc --strict and runs",
    () =>
      Effect.gen(function* () {
        expect(existsSync(join(ROOT, "dist", "index.d.ts")), "run `npm run build` first").toBe(true)
        const dir = yield* tempDir("tidemark-pack-")
        const packed = yield* run(NPM, ["pack", "--json", "--ignore-scripts", "--pack-destination", dir], {
          cwd: ROOT,
          timeoutMs: 60_000,
          env: npmEnv({})
        })
        expect(packed.code, describeResult("npm pack", packed)).toBe(0)
        const [{ filename }] = JSON.parse(packed.stdout) as [{ filename: string }]
        const app = join(dir, "app")
        mkdirSync(app)
        writeFileSync(
          join(app, "package.json"),
          JSON.stringify({ name: "embedding-app", private: true, type: "module" })
        )
        const prebuilds = join(dir, "prebuilds")
        mkdirSync(prebuilds)
        const install = yield* run(
          NPM,
          [
            "install",
            join(dir, filename),
            `effect@${effectVersion}`,
            "--prefer-offline",
            "--no-audit",
            "--no-fund",
            "--prefix",
            app
          ],
          { cwd: app, timeoutMs: 240_000, env: npmEnv(yield* localPrebuild(prebuilds)) }
        )
        expect(install.code, describeResult("npm install", install)).toBe(0)
        expect(install.stderr).not.toMatch(/ERESOLVE|peer dep|conflicting peer/i)
        // Every dependency and peer of the tree resolved (missing optional peers are not errors).
        const ls = yield* run(NPM, ["ls", "--all", "--prefix", app], {
          cwd: app,
          timeoutMs: 60_000,
          env: npmEnv({})
        })
        expect(ls.code, describeResult("npm ls --all", ls)).toBe(0)

        writeProject(app, exampleSource())
        const compiled = yield* run(process.execPath, [TSC, "-p", "tsconfig.json"], {
          cwd: app,
          timeoutMs: 120_000
        })
        expect(compiled.code, describeResult("tsc", compiled)).toBe(0)
        const ran = yield* run(process.execPath, [join("out", "app.js")], { cwd: app, timeoutMs: 30_000 })
        expect(ran.code, describeResult("node out/app.js", ran)).toBe(0)
        expect(ran.stdout.split("\n")).toContain(EXPECTED_LINE)
        // The test kit's entry point resolves from the installed package too.
        const testing = yield* run(
          process.execPath,
          [
            "--input-type=module",
            "-e",
            'const t = await import("tidemark/testing"); console.log(typeof t.devices)'
          ],
          { cwd: app, timeoutMs: 30_000 }
        )
        expect(testing.stdout.trim(), describeResult("import tidemark/testing", testing)).toBe("function")
      }),
    300_000
  )
})
