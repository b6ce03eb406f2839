// The package's version, for `tidemark --version`. Its own module so that the bin (../cli.ts) can answer
// --version without loading the tool.
import { createRequire } from "node:module"

/**
 * The package's version, from the nearest package.json above this module: three folders up from
 * src/programs/cli and dist/programs/cli, two from the bundle dist/programs/cli.bundle.cjs (scripts/bundle.js).
 */
export const VERSION: string = (() => {
  const require = createRequire(import.meta.url)
  for (const path of ["../../package.json", "../../../package.json"]) {
    try {
      const pkg = require(path) as { name?: string; version: string }
      if (pkg.name === "tidemark") return pkg.version
    } catch {
      // not there: try one folder further up
    }
  }
  return "unknown"
})()
