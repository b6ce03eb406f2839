#!/usr/bin/env node
// The `tidemark` bin. `tidemark --version` is answered here, printed as the tool itself prints it (a test
// compares the two), without loading the tool: reading the tool's bundle and its code cache, and
// evaluating Effect and @effect/cli, is most of a start. Everything else runs the tool (./cli/main.ts,
// which the build replaces with its bundle's launcher, scripts/bundle.js).
import { VERSION } from "./cli/version.js"

if (process.argv.length === 3 && process.argv[2] === "--version") {
  process.stdout.write(`${VERSION}\n\n`)
} else {
  void import("./cli/main.js")
}
