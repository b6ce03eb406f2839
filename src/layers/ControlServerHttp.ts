// The daemon's control address, over plain node:http (read-only, meant for loopback or a trusted network):
// GET /metrics — Prometheus text (MetricsReport); GET /status — the StatusReport JSON, the same document
// `tidemark status --json` prints. Keeps: the server closes with its scope, and a failing report answers
// 500 with the reason instead of taking the daemon down.
import { Effect, Option, Runtime } from "effect"
import * as Http from "node:http"
import { LiveMetrics } from "../services/LiveMetrics.js"
import * as MetricsReport from "../services/MetricsReport.js"
import * as StatusReport from "../services/StatusReport.js"
import { listenOn, parseAddress } from "./TcpTls.js"

export class ControlServerError extends Error {
  readonly _tag = "ControlServerError"
}

type Requirements = Effect.Effect.Context<typeof MetricsReport.make> | LiveMetrics

/** Serve the control endpoints at `address` (HOST:PORT; port 0 picks one) until the scope closes. */
export const serve = (address: string) =>
  Effect.gen(function* () {
    const target = parseAddress(address)
    if (Option.isNone(target)) {
      return yield* Effect.fail(new ControlServerError(`--control ${address}: not a HOST:PORT address`))
    }
    const runtime = yield* Effect.runtime<Requirements>()
    const run = Runtime.runPromise(runtime)

    const respond = (res: Http.ServerResponse, status: number, type: string, body: string) => {
      res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) })
      res.end(body)
    }
    const answer = (path: string): Effect.Effect<[number, string, string], unknown, Requirements> => {
      switch (path) {
        case "/metrics":
          return Effect.map(MetricsReport.make, (text) => [200, MetricsReport.CONTENT_TYPE, text])
        case "/status":
          return Effect.map(StatusReport.make, (report) => [
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
        Effect.mapError((code) => new ControlServerError(`cannot listen at ${address}: ${code}`))
      ),
      () =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    )
  })
