// Tests that need a PostgreSQL server: `describePostgres` skips them with a visible notice where no binaries
// exist (a failure under TIDEMARK_REQUIRE_POSTGRES=1), and `serverForFile` runs one throwaway server
// (postgresServer.ts) for a whole test file.
import { afterAll, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import { postgresBinDir, startPostgres, type TestPostgres } from "./postgresServer.js"

export { postgresBinDir, startPostgres, type TestPostgres } from "./postgresServer.js"

const required = process.env.TIDEMARK_REQUIRE_POSTGRES === "1"

/**
 * `describe` for tests that need a PostgreSQL server: skipped with a visible notice where the binaries are
 * missing, and failing instead when TIDEMARK_REQUIRE_POSTGRES=1.
 */
export const describePostgres = (name: string, body: () => void) => {
  if (postgresBinDir !== undefined) return describe(name, body)
  if (required) {
    return describe(name, () => {
      it("needs PostgreSQL", () => {
        throw new Error(
          "TIDEMARK_REQUIRE_POSTGRES=1 but no PostgreSQL binaries were found (set TIDEMARK_POSTGRES_BIN)"
        )
      })
    })
  }
  process.stderr.write(
    `NOTICE: skipping "${name}": no PostgreSQL binaries found (set TIDEMARK_POSTGRES_BIN)\n`
  )
  return describe.skip(name, body)
}

/**
 * One server for a whole test file: started before its first test, stopped after its last. `url()` is valid
 * in between. Use inside `describePostgres`.
 */
export const serverForFile = () => {
  let server: TestPostgres | undefined
  let scope: Scope.CloseableScope | undefined
  beforeAll(async () => {
    scope = Effect.runSync(Scope.make())
    server = await Effect.runPromise(Scope.extend(startPostgres, scope))
  })
  afterAll(async () => {
    if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
  })
  return {
    url: () => {
      if (server === undefined) throw new Error("the test PostgreSQL server is not running")
      return server.url
    },
    port: () => server?.port ?? 0
  }
}

let schemas = 0
/** A schema name not used before in this process: each test's hub starts empty. */
export const freshSchema = (prefix = "hub") => `${prefix}_${process.pid}_${++schemas}`
