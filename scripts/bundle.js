// Second step of `npm run build`: bundles the two programs a user starts, the daemon and the `tidemark` bin,
// each into one file that replaces tsc's output of it in dist/programs. Node then reads one file instead of
// resolving and loading about a thousand modules, which is most of a command's start-up time. The library
// (dist/index.js and the modules it imports) stays as tsc wrote it, for applications to import. Packages
// with native code stay outside the bundle and are loaded from node_modules as before.
import { build } from "esbuild"

const programs = ["dist/programs/daemon.js", "dist/programs/cli.js"]

await build({
  entryPoints: programs,
  outdir: "dist/programs",
  allowOverwrite: true,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["better-sqlite3", "msgpackr-extract"],
  // Bundled CommonJS packages call require(); an ES module has none of its own.
  banner: {
    js: 'import { createRequire as __tidemarkCreateRequire } from "node:module"; const require = __tidemarkCreateRequire(import.meta.url);'
  },
  legalComments: "none",
  minify: true,
  keepNames: true,
  logLevel: "warning"
})
