// The daemon's control address, over plain node:http (read-only, meant for loopback or a trusted network):
// GET /metrics — the engine's Prometheus text (`Engine.prometheus`); GET /status — the replica's status as
// JSON (`Replica.status`), the same document `tidemark status --json` prints. Keeps: the server closes with
// its scope, and a failing report answers 500 with the reason instead of taking the daemon down.
import { Effect, Option, Runtime, Schema } from "effect"
import * as Http from "node:http"
import { Tidemark, Transport } from "../index.js"

/** The control server could not listen at its address. */
export class ControlServerError extends Schema.TaggedError<ControlServerError>()("ControlServerError", {
  reason: Schema.String
}) {
  get message() {
    return this.reason
  }
}

const PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"

const listenOn = (server: Http.Server, host: string, port: number): Effect.Effect<string, string> =>
  Effect.async<string, string>((resume) => {
    const onError = (error: Error & { code?: string }) => resume(Effect.fail(error.code ?? error.message))
    server.once("error", onError)
    server.listen(port, host, () => {
      server.off("error", onError)
      const bound = server.address()
      const at = bound !== null && typeof bound === "object" ? bound.port : port
      resume(Effect.succeed(host.includes(":") ? `[${host}]:${at}` : `${host}:${at}`))
    })
  })

/** Serve the control endpoints at `address` (HOST:PORT; port 0 picks one) until the scope closes. */
export const serve = (address: string) =>
  Effect.gen(function* () {
    const target = Transport.parseAddress(address)
    if (Option.isNone(target)) {
      return yield* new ControlServerError({ reason: `--control ${address}: not a HOST:PORT address` })
    }
    const engine = yield* Tidemark.Engine
    const replica = yield* Tidemark.Replica
    const run = Runtime.runPromise(yield* Effect.runtime<never>())

    const respond = (res: Http.ServerResponse, status: number, type: string, body: string) => {
      res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) })
      res.end(body)
    }
    const answer = (path: string): Effect.Effect<[number, string, string], unknown> => {
      switch (path) {
        case "/metrics":
          return Effect.map(engine.prometheus, (text) => [200, PROMETHEUS_TYPE, text])
        case "/status":
          return Effect.map(replica.status, (report) => [
            200,
            "application/json",
            JSON.stringify(report) + "\n"
          ])
        default:
          return Effect.succeed([404, "text/plain", "not found: try /metrics or /status\n"])
      }
    }

    const server = Http.createServer((req, res) => {
      const path = new URL(req.url ?? "/", "http://control").pathname
      if (req.method !== "GET" && req.method !== "HEAD") {
        return respond(res, 405, "text/plain", "only GET\n")
      }
      run(answer(path)).then(
        ([status, type, body]) => respond(res, status, type, body),
        (e: unknown) => {
          run(Effect.logWarning(`Control server could not answer ${path}: ${String(e)}`)).catch(() => {})
          respond(res, 500, "text/plain", `${String(e)}\n`)
        }
      )
    })
    server.keepAliveTimeout = 5_000

    return yield* Effect.acquireRelease(
      listenOn(server, target.value.host, target.value.port).pipe(
        Effect.mapError((code) => new ControlServerError({ reason: `cannot listen at ${address}: ${code}` }))
      ),
      () =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    )
  })
