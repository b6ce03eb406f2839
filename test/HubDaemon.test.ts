// The daemon as a hub: `node dist/programs/daemon.js --database postgres://… --schema …` keeps its stores in
// PostgreSQL (its identity stays in its data directory). Two SQLite daemons that each know only the hub
// converge through it.
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { join } from "node:path"
import * as DataDir from "../src/app/DataDir.js"
import * as D from "./support/daemons.js"
import { describePostgres, freshSchema, postgresBinDir, serverForFile } from "./support/postgres.js"
import { tempDir } from "./support/tempDir.js"

/** The server's URL with a password (the test server trusts every local connection, so any will do). */
const withPassword = (url: string) => {
  const parsed = new URL(url)
  parsed.password = "secret"
  return parsed.toString()
}

const has = (text: string) => (lines: ReadonlyArray<string>) => lines.some((l) => l.includes(text))

describePostgres("the daemon as a hub", () => {
  const server = serverForFile()

  it.live("daemons A and B sync through a hub daemon whose stores are in PostgreSQL", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const root = yield* tempDir()
        const hub = yield* DataDir.initLibrary(join(root, "hub"), "hub")
        const [dirA, dirB] = [join(root, "a"), join(root, "b")]
        yield* DataDir.joinLibrary(dirA, DataDir.joinCodeOf(hub), "a")
        yield* DataDir.joinLibrary(dirB, DataDir.joinCodeOf(hub), "b")
        const [atHub, atA, atB, control] = [
          yield* D.freeAddress,
          yield* D.freeAddress,
          yield* D.freeAddress,
          yield* D.freeAddress
        ]
        const schema = freshSchema()
        const h = yield* D.start(join(root, "hub"), {
          listen: atHub,
          control,
          extra: ["--database", withPassword(server.url()), "--schema", schema]
        })
        yield* D.start(dirA, { listen: atA, peers: [atHub] })
        yield* D.start(dirB, { listen: atB, peers: [atHub] })
        yield* D.write(dirA, "tag", { name: "from A", color: null })
        yield* D.write(dirB, "tag", { name: "from B", color: null })
        const lines = yield* D.converged(
          [dirA, dirB],
          (l) => has("from A")(l) && has("from B")(l),
          "30 seconds"
        )
        expect(lines).toHaveLength(2)
        // The hub's log names its database without the password.
        expect(h.log()).toContain(
          `Serving as a hub: stores in postgres://postgres:***@127.0.0.1:${server.port()}/postgres schema ${schema}`
        )
        expect(h.log()).not.toContain("secret")
        // Its /status and /metrics name the database (without the password) and the schema.
        const get = (path: string) =>
          Effect.promise(() => fetch(`http://${control}${path}`).then((res) => res.text()))
        const database = `postgres://postgres:***@127.0.0.1:${server.port()}/postgres`
        const status = yield* get("/status")
        expect(JSON.parse(status).storage).toEqual({ kind: "postgres", database, schema })
        expect(status).not.toContain("secret")
        const metrics = yield* get("/metrics")
        expect(metrics).toContain(
          `tidemark_storage_info{kind="postgres",database="${database}",schema="${schema}"} 1`
        )
        expect(metrics).not.toContain("secret")
        // The rows are in the hub's schema, not in SQLite files of its data directory.
        const count = execFileSync(join(postgresBinDir!, "psql"), [
          "-h",
          "127.0.0.1",
          "-p",
          String(server.port()),
          "-U",
          "postgres",
          "-tAc",
          `SELECT count(*) FROM ${schema}.kind_tag`,
          "postgres"
        ])
          .toString()
          .trim()
        expect(count).toBe("2")
        expect(existsSync(join(root, "hub", "database.db"))).toBe(false)
      })
    )
  )
})
