#!/usr/bin/env node
// The start of a bundled program (scripts/bundle.js copies this file to NAME.js in dist/programs): runs
// NAME.bundle.cjs beside it, the program in one CommonJS file, with V8's code cache NAME.bundle.cjs.cache
// made at build time. Compiling the bundle without the cache is about a third of a command's start-up; with it, V8
// reads the compiled bytecode instead. A cache that does not fit this node (another version, other V8
// flags) is rejected by V8 and the bundle is compiled as usual, so the program runs the same either way,
// only slower. The build writes the cache by running the program once with TIDEMARK_CODE_CACHE=write;
// TIDEMARK_CODE_CACHE=check prints to stderr whether V8 took it (test/Bundle.test.ts).
import { readFileSync, renameSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"
import { Script } from "node:vm"

const bundle = fileURLToPath(import.meta.url).replace(/\.js$/, ".bundle.cjs")
const cacheFile = `${bundle}.cache`

let cachedData
if (process.env.TIDEMARK_CODE_CACHE !== "write") {
  try {
    cachedData = readFileSync(cacheFile)
  } catch {
    // no cache (a build without one): compile as usual
  }
}
// The same wrapper as Node's own CommonJS loader, kept on the first line so line numbers stay the bundle's.
const script = new Script(
  `(function (exports, require, module, __filename, __dirname) {${readFileSync(bundle, "utf8")}\n})`,
  { filename: bundle, cachedData }
)
const mode = process.env.TIDEMARK_CODE_CACHE
if (mode === "check") {
  const state = cachedData === undefined ? "missing" : script.cachedDataRejected ? "rejected" : "accepted"
  process.stderr.write(`code cache ${state}: ${cacheFile}\n`)
}
if (mode === "write") {
  // At exit the cache holds every function compiled while the program ran, not only its top level.
  process.once("exit", () => {
    const partial = `${cacheFile}.${process.pid}`
    writeFileSync(partial, script.createCachedData())
    renameSync(partial, cacheFile)
  })
}
const module = { exports: {} }
script
  .runInThisContext()
  .call(module.exports, module.exports, createRequire(bundle), module, bundle, dirname(bundle))
