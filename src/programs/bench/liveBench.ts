// Live latency: a write on device A until it is committed on device B, over loopback TCP (TLS, the real
// transport), measured write by write. B is a daemon process; "visible on B" is observed by a third library
// member holding a long-poll Pull open on B, which B answers the moment it commits the row. Printed next to a
// baseline measured in the same run: the round trip of one byte over a plain loopback TCP socket.
//   - engine path: A is the engine in this process and writes through its Library (what an application
//     embedding Tidemark, or the daemon's own folder indexer, does);
//   - outside-writer path: A is a daemon process too and the rows are written into its data directory by this
//     process, so A notices them by polling database.db's data_version (ExternalWrites, every 250 ms).
import { Effect, Fiber, Layer, Logger, LogLevel } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { newDeviceId, newUuid, type Uuid } from "../../domain/Ids.js"
import { Pull } from "../../domain/Protocol.js"
import * as DataDir from "../../app/DataDir.js"
import * as Device from "../../layers/Device.js"
import * as TransportTcp from "../../layers/TransportTcp.js"
import { Credentials } from "../../services/Credentials.js"
import { Library } from "../../services/Library.js"
import type { PeerConnection } from "../../services/PeerTransport.js"
import * as SyncEngine from "../../services/SyncEngine.js"
import { cpuMs } from "./cpu.js"
import type { Report } from "./report.js"

const DAEMON = join(dirname(fileURLToPath(import.meta.url)), "..", "daemon.js")
/** TIDEMARK_BENCH_PROFILE=DIR writes a CPU profile of each daemon into DIR, as the other benchmarks do. */
const profileFlags = process.env.TIDEMARK_BENCH_PROFILE
  ? ["--cpu-prof", `--cpu-prof-dir=${process.env.TIDEMARK_BENCH_PROFILE}`]
  : []

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!

/** p50, p99 and max of samples in ms. */
const stats = (samples: ReadonlyArray<number>) => {
  const sorted = [...samples].sort((a, b) => a - b)
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1)! }
}

const summary = (samples: ReadonlyArray<number>) => {
  const sorted = [...samples].sort((a, b) => a - b)
  const f = (x: number) => `${x.toFixed(2)} ms`
  return `p50 ${f(percentile(sorted, 0.5))}, p99 ${f(percentile(sorted, 0.99))}, max ${f(sorted.at(-1)!)} (n=${sorted.length})`
}

const freeAddress = Effect.async<string>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as Net.AddressInfo
    server.close(() => resume(Effect.succeed(`127.0.0.1:${port}`)))
  })
})

/** Round trips of one byte over a plain loopback TCP connection. */
const tcpRoundTrips = (n: number) =>
  Effect.promise(
    () =>
      new Promise<Array<number>>((resolve, reject) => {
        const server = Net.createServer((socket) => {
          socket.setNoDelay(true)
          socket.on("data", (d) => socket.write(d))
        })
        server.listen(0, "127.0.0.1", () => {
          const { port } = server.address() as Net.AddressInfo
          const client = Net.connect(port, "127.0.0.1")
          client.setNoDelay(true)
          const samples: Array<number> = []
          let start = 0
          const next = () => {
            start = performance.now()
            client.write("x")
          }
          client.on("data", () => {
            samples.push(performance.now() - start)
            if (samples.length === n) {
              client.destroy()
              server.close()
              resolve(samples)
            } else next()
          })
          client.on("error", reject)
          client.on("connect", next)
        })
      })
  )

/** A daemon process, killed when the scope closes; resolves once it listens. */
const daemon = (dir: string, listen: string, peers: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.async<ChildProcess, Error>((resume) => {
      const args = [DAEMON, "--data-dir", dir, "--listen", listen, ...peers.flatMap((p) => ["--peer", p])]
      const child = spawn(process.execPath, [...profileFlags, ...args], {
        stdio: ["ignore", "ignore", "pipe"]
      })
      let log = ""
      child.stderr!.on("data", (chunk: Buffer) => {
        log += chunk.toString()
        if (log.includes(`Listening for peers at ${listen}`)) resume(Effect.succeed(child))
      })
      child.once("exit", (code) => resume(Effect.fail(new Error(`daemon exited (${code}):\n${log}`))))
    }),
    (child) =>
      Effect.async<void>((resume) => {
        if (child.exitCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
        child.kill("SIGTERM")
      })
  )

/** A connection to `address` as an extra member of the library that only watches. */
const observer = (identity: DataDir.Identity, address: string) =>
  Effect.flatMap(TransportTcp.make(), (transport) => transport.connect(address)).pipe(
    Effect.provide(
      Credentials.layer({ libraryId: identity.libraryId, deviceId: newDeviceId(), secret: identity.secret })
    )
  )

/** Resolves when a location with `uuid` is committed on the observed device. */
const arrival = (conn: PeerConnection, cursor: { after: number }, uuid: Uuid) =>
  Effect.gen(function* () {
    for (;;) {
      const page = yield* conn.send(
        new Pull({ resource: "location", after: cursor.after, limit: 1_000, waitMillis: 10_000 })
      )
      cursor.after = page.last
      if (page.rows.some((r) => r.uuid === uuid)) return performance.now()
    }
  })

/** Write `n` locations with `write`, one at a time, and time each until it is on B. */
const measure = <E, R>(
  n: number,
  conn: PeerConnection,
  write: (uuid: Uuid, i: number) => Effect.Effect<unknown, E, R>
) =>
  Effect.gen(function* () {
    const cursor = { after: 0 }
    const samples: Array<number> = []
    const writeMillis: Array<number> = []
    for (let i = 0; i < n; i++) {
      const uuid = newUuid()
      const seen = yield* Effect.fork(arrival(conn, cursor, uuid))
      yield* Effect.sleep("1 millis") // let the pull reach B first, as a peer's long-poll would be
      const start = performance.now()
      yield* write(uuid, i)
      writeMillis.push(performance.now() - start)
      samples.push((yield* Fiber.join(seen)) - start)
    }
    return { samples, writeMillis }
  })

const location = (i: number) => ({ volume: null, path: `/bench/${i}`, name: `bench-${i}` })

/** Two devices of one new library in a temporary directory removed when the scope closes. */
const twoDevices = Effect.gen(function* () {
  const root = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "tidemark-bench-live-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
  const a = yield* DataDir.initLibrary(join(root, "a"), "bench-a")
  const b = yield* DataDir.joinLibrary(join(root, "b"), DataDir.joinCodeOf(a), "bench-b")
  return { a, b, dirA: join(root, "a"), dirB: join(root, "b") }
})

const enginePath = (writes: number) =>
  Effect.gen(function* () {
    const { a, dirA, dirB } = yield* twoDevices
    const [atA, atB] = [yield* freeAddress, yield* freeAddress]
    const scope = yield* Effect.scope
    const deviceA = yield* Layer.buildWithScope(Device.layerDataDir(dirA, a), scope)
    yield* SyncEngine.start({ listen: atA, peers: [atB] }).pipe(Effect.provide(deviceA))
    const b = yield* daemon(dirB, atB, [atA])
    const conn = yield* observer(a, atB)
    const library = yield* Effect.provide(Library, deviceA)
    // Warm up (connections, statement caches), then measure.
    yield* measure(20, conn, (uuid, i) => library.write("location", [{ uuid, fields: location(i) }]))
    const before = { b: b.pid === undefined ? undefined : cpuMs(b.pid), here: cpuMs("self") }
    const measured = yield* measure(writes, conn, (uuid, i) =>
      library.write("location", [{ uuid, fields: location(1_000_000 + i) }])
    )
    const after = { b: b.pid === undefined ? undefined : cpuMs(b.pid), here: cpuMs("self") }
    const perWrite = (from: number | undefined, to: number | undefined) =>
      from === undefined || to === undefined ? undefined : (to - from) / writes
    // CPU per write of B (apply, progress record, answering the observer and A's pull of the row back) and of
    // this process (A's engine and the observer): what a write costs, which other load disturbs less than
    // latency.
    return {
      ...measured,
      cpuMsPerWrite: { b: perWrite(before.b, after.b), here: perWrite(before.here, after.here) }
    }
  }).pipe(Effect.scoped)

const outsideWriterPath = (writes: number) =>
  Effect.gen(function* () {
    const { a, dirA, dirB } = yield* twoDevices
    const [atA, atB] = [yield* freeAddress, yield* freeAddress]
    yield* daemon(dirA, atA, [atB])
    yield* daemon(dirB, atB, [atA])
    const conn = yield* observer(a, atB)
    const writer = yield* Layer.buildWithScope(Device.layerSqlite(dirA, a), yield* Effect.scope)
    const library = yield* Effect.provide(Library, writer)
    yield* measure(3, conn, (uuid, i) => library.write("location", [{ uuid, fields: location(i) }]))
    return yield* measure(writes, conn, (uuid, i) =>
      library.write("location", [{ uuid, fields: location(1_000_000 + i) }])
    )
  }).pipe(Effect.scoped)

export const run = (options: { readonly writes: number; readonly outsideWrites: number }, report: Report) =>
  Effect.gen(function* () {
    const baseline = yield* tcpRoundTrips(options.writes)
    const engine = yield* enginePath(options.writes)
    const lines = [
      `live: write on A → committed on B, two devices over loopback TCP (TLS 1.3 PSK), one write at a time`,
      `  baseline, plain TCP round trip of 1 byte:           ${summary(baseline)}`,
      `  engine path (A writes through its Library):         ${summary(engine.samples)}  (target p99 < 20 ms)`,
      `    of which the write itself on A:                   ${summary(engine.writeMillis)}`
    ]
    const round = (ms: number) => Math.round(ms * 100) / 100
    const [base, path, write] = [stats(baseline), stats(engine.samples), stats(engine.writeMillis)]
    const fields: Record<string, number> = {
      writes: options.writes,
      baselineP50Ms: round(base.p50),
      baselineP99Ms: round(base.p99),
      p50Ms: round(path.p50),
      p99Ms: round(path.p99),
      maxMs: round(path.max),
      writeP50Ms: round(write.p50),
      writeP99Ms: round(write.p99)
    }
    const cpu = engine.cpuMsPerWrite
    if (cpu.b !== undefined && cpu.here !== undefined) {
      lines.push(
        `    CPU per write: B ${cpu.b.toFixed(2)} ms, A and the observer (this process) ${cpu.here.toFixed(2)} ms`
      )
      fields.receiverCpuMsPerWrite = round(cpu.b)
      fields.senderCpuMsPerWrite = round(cpu.here)
    }
    if (options.outsideWrites > 0) {
      const outside = yield* outsideWriterPath(options.outsideWrites)
      lines.push(
        `  outside writer (another process writes A's files): ${summary(outside.samples)}  (bound: 250 ms poll)`
      )
      const o = stats(outside.samples)
      fields.outsideWrites = options.outsideWrites
      fields.outsideP50Ms = round(o.p50)
      fields.outsideP99Ms = round(o.p99)
    }
    for (const l of lines) report.line(l)
    report.result(fields)
  }).pipe(Logger.withMinimumLogLevel(LogLevel.Warning))
