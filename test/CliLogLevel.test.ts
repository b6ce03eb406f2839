// The CLI's one-line failure contract (docs/cli.md) holds when opening the data directory did work worth an
// info line: found by the chaos test, where a daemon killed between logging a peer's shared change and
// applying it left the change for the next opener, and a failing `tag rename` then printed the recovery's
// info line above its error.
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect } from "effect"
import { join } from "node:path"
import { cliJson, runCli } from "./support/cli.js"
import { tempDir } from "./support/tempDir.js"

describe("tidemark CLI log level", () => {
  it.scopedLive("a failing command prints one line even when opening recovered shared changes", () =>
    Effect.gen(function* () {
      const dir = join(yield* tempDir("tidemark-cli-log-"), "a")
      yield* cliJson(["init", "--data-dir", dir])
      yield* cliJson(["tag", "add", "--data-dir", dir, "--name", "red"])
      // As a process killed between the log and the apply leaves it: logged, not yet applied.
      const sync = new Database(join(dir, "sync.db"))
      expect(sync.prepare("UPDATE shared_changes SET applied = 0").run().changes).toBe(1)
      sync.close()

      const missing = "6c046c1c-c14f-5408-9c41-23394f2a4d60"
      const r = yield* runCli(["tag", "rename", "--data-dir", dir, missing, "blue"])
      expect(r.code).toBe(1)
      expect(r.stderr).toBe(`tidemark: no tag with uuid ${missing}\n`)
      // The recovery did happen (it is only not announced), and --log-level still shows it.
      const sync2 = new Database(join(dir, "sync.db"))
      sync2.prepare("UPDATE shared_changes SET applied = 0").run()
      sync2.close()
      const verbose = yield* runCli([
        "--log-level",
        "info",
        "tag",
        "rename",
        "--data-dir",
        dir,
        missing,
        "blue"
      ])
      expect(verbose.stderr).toContain("Recovered 1 shared change(s)")
    })
  )
})
