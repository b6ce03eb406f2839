#!/usr/bin/env node
// The `tidemark` bin. `tidemark --version` and `tidemark --help` are answered here, printed as the tool itself
// prints them (tests compare the two), without loading the tool: reading the tool's bundle and its code
// cache, and evaluating Effect and @effect/cli, is most of a start. The help text is the tool's own, saved
// by the build (scripts/bundle.js) beside the tool as ./cli/help.txt; without that file the tool answers.
// Everything else runs the tool (./cli/main.ts, which the build replaces with its bundle's launcher).
import { readFileSync } from "node:fs"
import { VERSION } from "./cli/version.js"

/** The tool's top-level help as the build saved it, or undefined when this build has none. */
const savedHelp = (): string | undefined => {
  try {
    return readFileSync(new URL("./cli/help.txt", import.meta.url), "utf8")
  } catch {
    return undefined
  }
}

const only = process.argv.length === 3 ? process.argv[2] : undefined
const help = only === "--help" || only === "-h" ? savedHelp() : undefined
if (only === "--version") {
  process.stdout.write(`${VERSION}\n\n`)
} else if (help !== undefined) {
  process.stdout.write(help)
} else {
  void import("./cli/main.js")
}
