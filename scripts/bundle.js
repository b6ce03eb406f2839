// Second step of `npm run build`: bundles what the two programs a user starts run, the daemon
// (dist/programs/daemon.js) and the `tidemark` bin's tool (dist/programs/cli/main.js, which the bin
// dist/programs/cli.js imports unless it only prints the version), each into one CommonJS file beside it,
// NAME.bundle.cjs, and puts scripts/launcher.js in place of tsc's NAME.js: the launcher runs the bundle
// with V8's code cache, which this script then makes by running each program once. Node reads and compiles
// one file instead of resolving and loading about a thousand modules, and with the cache it does not
// compile most of it either (docs/architecture.md, "Start-up"). The bundles are CommonJS because only a
// script (not an ES module) can be given a code cache on Node 20. The library (dist/index.js and the
// modules it imports) stays as tsc wrote it, for applications to import. Packages with native code stay
// outside the bundle and are loaded from node_modules as before.
import { build } from "esbuild"
import { spawn } from "node:child_process"
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const entries = ["dist/programs/daemon.js", "dist/programs/cli/main.js"]

const built = await build({
  entryPoints: entries.map((entry) => ({ in: entry, out: entry.replace(/\.js$/, ".bundle") })),
  outdir: ".",
  outExtension: { ".js": ".cjs" },
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  external: ["better-sqlite3", "msgpackr-extract"],
  // @effect/cli's parsers for config files the programs never read (scripts/stubs/config-parsers.js).
  alias: Object.fromEntries(
    ["yaml", "toml", "ini"].map((name) => [name, "./scripts/stubs/config-parsers.js"])
  ),
  // A CommonJS file has no import.meta: its URL is the bundle's own file.
  define: { "import.meta.url": "__tidemarkModuleUrl" },
  banner: { js: 'var __tidemarkModuleUrl = require("node:url").pathToFileURL(__filename).href;' },
  legalComments: "none",
  // Whitespace and syntax only: identifiers keep their names, so classes and functions keep theirs without
  // esbuild's keepNames, which wraps every function made at run time in a call that sets its name (about a
  // sixth of the daemon's CPU per live write, docs/benchmarks.md).
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: "warning",
  write: false
})
// The launcher wraps a bundle in a function, where the entries' `#!` lines would be a syntax error.
for (const file of built.outputFiles) writeFileSync(file.path, file.text.replace(/^#!.*/, ""))

for (const entry of entries) copyFileSync("scripts/launcher.js", entry)

/** Run `node FILE ...args` to its end: its exit code and what it printed. */
const runNode = (file, args, env = {}) =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [file, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8")
    child.stderr.setEncoding("utf8")
    child.stdout.on("data", (chunk) => (stdout += chunk))
    child.stderr.on("data", (chunk) => (stderr += chunk))
    child.once("close", (code) => resolve({ code, stdout, stderr }))
  })

/** Run `node dist/programs/NAME.js ...args` with the launcher writing the code cache at its exit. */
const runOnce = async (name, args) => {
  const { code, stdout, stderr } = await runNode(`dist/programs/${name}.js`, args, {
    TIDEMARK_CODE_CACHE: "write"
  })
  if (code !== 0) throw new Error(`${name} ${args.join(" ")} exited ${code}:\n${stdout}${stderr}`)
}

/**
 * Start the daemon with the launcher in write mode, stop it (SIGTERM, on which it exits 0) once it logs
 * "Listening", so that its cache is written at exit.
 */
const startDaemonOnce = (args) =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["dist/programs/daemon.js", ...args], {
      env: { ...process.env, TIDEMARK_CODE_CACHE: "write" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    let stopping = false
    const onData = (chunk) => {
      output += chunk
      // Once: a second SIGTERM after the daemon began to stop would kill it before the cache is written.
      if (!stopping && output.includes("Listening")) {
        stopping = true
        child.kill("SIGTERM")
      }
    }
    child.stdout.setEncoding("utf8")
    child.stderr.setEncoding("utf8")
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.once("close", (code) =>
      code === 0 && output.includes("Listening")
        ? resolve()
        : reject(new Error(`daemon ${args.join(" ")} exited ${code}:\n${output}`))
    )
  })

// What a cache holds is what its run compiled: for the tool, a command that opens a device (the work every
// command but --help and --version does); for the daemon, a start until it listens for peers (the modules
// it loads only then, such as the TCP transport, included), on the device that `init` just made. The
// daemon does not change its V8 flag (./daemon/heap.ts) in that run, or V8 would refuse the cache.
const scratch = mkdtempSync(join(tmpdir(), "tidemark-build-"))
try {
  const device = join(scratch, "device")
  await runOnce("cli", ["init", "--data-dir", device, "--name", "build"])
  await startDaemonOnce(["--data-dir", device, "--listen", "127.0.0.1:0"])
} finally {
  rmSync(scratch, { recursive: true, force: true })
}

// The tool's top-level help, saved for the bin to print itself (src/programs/cli.ts): it is fixed text, the
// same on every run of this build, and printing it through the tool costs a whole start.
const help = await runNode("dist/programs/cli/main.js", ["--help"])
if (help.code !== 0 || help.stderr !== "" || help.stdout === "") {
  throw new Error(`tidemark --help exited ${help.code}:\n${help.stdout}${help.stderr}`)
}
writeFileSync("dist/programs/cli/help.txt", help.stdout)
