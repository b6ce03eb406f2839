// One simulated run: the devices of a seed's plan, each a full device (stores, engine, memory transport)
// whose SQLite databases the simulator holds, on one in-process network, on simulated time. The plan's
// actions run at their times; then the network heals, crashed devices restart, clocks come back within the
// drift limit, and the oracle judges. Keeps: the same seed gives the same trace, byte for byte.
import { Clock, Context, Deferred, Effect, Exit, Layer, Logger, LogLevel, Random, Scope } from "effect"
import { createHash } from "node:crypto"
import { LibraryId, Uuid, type DeviceId } from "../domain/Ids.js"
import type { PeerRequest } from "../domain/Protocol.js"
import * as Device from "../layers/Device.js"
import * as HlcClockSqlite from "../layers/HlcClockSqlite.js"
import { LibraryDb, SyncDb } from "../layers/Sqlite.js"
import * as TransportMemory from "../layers/TransportMemory.js"
import { Credentials } from "../services/Credentials.js"
import { Kinds } from "../services/Kinds.js"
import { Library } from "../services/Library.js"
import { LocalDevice } from "../services/LocalDevice.js"
import { type PeerConnection, PeerTransport } from "../services/PeerTransport.js"
import * as SyncEngine from "../services/SyncEngine.js"
import { WatermarkStore } from "../services/WatermarkStore.js"
import * as Corruption from "./Corruption.js"
import * as Oracle from "./Oracle.js"
import * as Plan from "./Plan.js"
import * as Restores from "./Restores.js"
import * as Runtime from "./Runtime.js"
import { fieldsFor, SimCatalog } from "./SimSchema.js"
import * as SimLayer from "./SimLayer.js"
import * as SimOpen from "./SimOpen.js"
import * as SimPg from "./SimPg.js"
import * as SimSqlite from "./SimSqlite.js"
import type { Variant } from "./Variant.js"

const LIBRARY = LibraryId.make("5e1a0000-0000-4000-8000-000000000001")
const SECRET = "simulated-library"
const START_MILLIS = 1_800_000_000_000
/** How long after healing the devices have to converge, in simulated time. */
const CONVERGE_MILLIS = 60_000

/** What one seed gave. */
export interface Outcome {
  readonly seed: number
  readonly violations: ReadonlyArray<string>
  readonly trace: ReadonlyArray<string>
  /** sha256 of the trace. */
  readonly hash: string
  /** The kinds of fault that happened in this run (crash points, partitions, drops…). */
  readonly covered: ReadonlyArray<string>
  readonly simulatedMillis: number
  readonly tasks: number
  /** Effect operations run: what the seed cost, counted the same on a busy machine as on an idle one. */
  readonly operations: number
}

/**
 * A hub's library: every other device pulls from device 0 (which joins first and never leaves) and from no
 * one else, so every row another device wrote reaches the others through the hub.
 */
const throughHub = (plan: Plan.Plan): Plan.Plan => ({
  ...plan,
  devices: plan.devices.map((d) => ({ ...d, peers: d.index === 0 ? [] : [0] }))
})

/**
 * Run `seed` and judge it. `variant`: its parts in every SQLite device. `restores: false`: the plan draws no
 * backups and restores; `size`: the plan's size instead of the seed's own (Plan.PlanOptions). `postgres`:
 * device 0 keeps its stores in a fresh schema of the server at this URL, as a hub, and the others sync
 * through it alone. `maxTasks`: the scheduler tasks after which the run is stopped as a livelock (Runtime.run's
 default when absent).
 */
export const simulate = async (
  seed: number,
  options?: {
    readonly variant?: Variant
    readonly postgres?: string
    readonly restores?: boolean
    readonly size?: Plan.Size
    readonly maxTasks?: number
  }
): Promise<Outcome> => {
  const hub = options?.postgres === undefined ? undefined : 0
  const planned = Plan.make(seed, {
    ...(options?.restores === undefined ? {} : { restores: options.restores }),
    ...(options?.size === undefined ? {} : { size: options.size })
  })
  const plan = hub === undefined ? planned : throughHub(planned)
  const held =
    hub === undefined
      ? undefined
      : await SimPg.HeldSchema.open(options!.postgres!, `sim_${process.pid}_${seed}`)
  const world = new World(
    plan,
    options?.variant,
    hub === undefined ? undefined : { index: hub, held: held! },
    await SimOpen.images(SimCatalog)
  )
  if (hub !== undefined) world.covered.add("hub on postgres")
  world.covered.add(`${plan.size} plan`)
  const result = await Runtime.run(
    world.program.pipe(
      Effect.withRandom(Random.make(seed)),
      // Errors the engine logs go into the trace (a crashed device's failing statements log some).
      Effect.provide(Logger.replace(Logger.defaultLogger, world.logger)),
      Logger.withMinimumLogLevel(LogLevel.Error),
      Effect.withTracerEnabled(false)
    ),
    START_MILLIS,
    options?.maxTasks
  )
  if (Exit.isFailure(result.exit))
    world.violation(`the simulation itself failed: ${String(result.exit.cause)}`)
  for (const d of world.devices) {
    if (d.pg !== undefined) await d.pg.close()
    else {
      d.sqlite!.library.close()
      d.sqlite!.sync.close()
    }
  }
  const trace = world.trace
  return {
    seed,
    violations: world.violations,
    trace,
    hash: createHash("sha256").update(trace.join("\n")).digest("hex"),
    covered: [...world.covered].sort(),
    simulatedMillis: result.endMillis - START_MILLIS,
    tasks: result.tasks,
    operations: result.operations
  }
}

/**
 * How many ranges of split backfills (of `resource`, or of any kind) the device has recorded as committed:
 * 0 when none, or when its sync.db is not readable now (in a transaction, or not migrated yet).
 */
const splitRanges = (d: SimDevice, resource?: string) => {
  try {
    const where = resource === undefined ? "" : " WHERE resource_type = ?"
    const rows = d.sqlite?.sync.read<{ n: number }>(
      `SELECT count(*) AS n FROM backfill_ranges${where}`,
      resource === undefined ? [] : [resource]
    )
    return rows?.[0]?.n ?? 0
  } catch {
    return 0
  }
}

/** The crash gate of one incarnation: counts statements, and kills the device at the armed one. */
class Gate implements SimSqlite.Gate {
  alive = true
  statements = 0
  /** Armed: crash before the `crashAt`-th next statement containing `crashLike`. */
  crashAt: number | undefined
  crashLike = ""
  /** Strike before the statement after the armed one (so just after the armed one ran). */
  crashAfter = false
  countdown = 0
  /** The armed statement ran: the next statement, whatever it is, is the one the crash strikes before. */
  struck = false
  lastStatement = ""
  constructor(
    private readonly device: SimDevice,
    readonly crashed: Deferred.Deferred<void>,
    /** Called before each transaction the device begins, when what it committed so far is readable. */
    private readonly beforeBegin: () => void
  ) {}

  pass(sql: string): boolean {
    if (!this.alive) return false
    this.statements++
    if (sql.startsWith("BEGIN")) this.beforeBegin()
    if (this.struck) {
      this.lastStatement = sql
      this.kill()
      return false
    }
    if (this.crashAt !== undefined && sql.includes(this.crashLike)) this.countdown++
    if (this.crashAt !== undefined && this.countdown >= this.crashAt && this.crashAfter) {
      this.struck = true
      return true
    }
    if (this.crashAt !== undefined && this.countdown >= this.crashAt) {
      this.lastStatement = sql
      this.kill()
      return false
    }
    return true
  }

  /** The process dies: open transactions are gone, nothing more reaches its databases. */
  kill() {
    if (!this.alive) return
    this.alive = false
    this.device.pg?.rollback()
    this.device.sqlite?.library.rollback()
    this.device.sqlite?.sync.rollback()
    Deferred.unsafeDone(this.crashed, Exit.void)
  }
}

interface SimDevice extends Oracle.Held {
  readonly plan: Plan.DevicePlan
  /** Where its stores live: SQLite databases in memory, or a PostgreSQL schema (a hub). */
  readonly sqlite:
    { readonly library: SimSqlite.HeldDatabase; readonly sync: SimSqlite.HeldDatabase } | undefined
  readonly pg: SimPg.HeldSchema | undefined
  readonly address: string
  skew: number
  state: "waiting" | "up" | "down" | "left"
  gate: Gate | undefined
  context: Context.Context<Library | Corruption.Needs> | undefined
  scope: Scope.CloseableScope | undefined
  downMillis: number
  /** A crash armed while the device was not running: it strikes the next incarnation. */
  pending: Extract<Plan.Action, { _tag: "Crash" }> | undefined
  leaving: boolean
  delivered: Map<string, Oracle.Delivered>
  /** Set when a restore or replacement crashed the device: what to put in its databases' place. */
  swap: { readonly backup: Restores.Backup | undefined } | undefined
}

class World {
  readonly devices: ReadonlyArray<SimDevice>
  readonly trace: Array<string> = []
  readonly violations: Array<string> = []
  readonly covered = new Set<string>()
  readonly writes: Array<Oracle.Written & { readonly by: number }> = []
  readonly swaps = new Restores.Swaps()
  healing = false
  private now = () => 0

  constructor(
    readonly plan: Plan.Plan,
    readonly variant: Variant | undefined,
    hub: { readonly index: number; readonly held: SimPg.HeldSchema } | undefined,
    /** New databases as the migrations make them (SimOpen). */
    readonly images: SimOpen.Images
  ) {
    this.devices = plan.devices.map((p) => {
      const pg = p.index === hub?.index ? hub.held : undefined
      const sqlite =
        pg === undefined
          ? { library: new SimSqlite.HeldDatabase(), sync: new SimSqlite.HeldDatabase() }
          : undefined
      return {
        plan: p,
        name: `d${p.index}`,
        id: p.id,
        address: `memory:d${p.index}`,
        sqlite,
        pg,
        library: pg?.library ?? sqlite!.library,
        sync: pg?.sync ?? sqlite!.sync,
        skew: p.skew,
        state: "waiting",
        gate: undefined,
        context: undefined,
        scope: undefined,
        downMillis: 0,
        pending: undefined,
        leaving: false,
        delivered: new Map(),
        swap: undefined
      }
    })
  }

  /** Engine logs of level Error, first line only, into the trace. */
  readonly logger = Logger.make(({ message }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    this.log(`log error: ${text.split("\n")[0]}`)
  })

  log(line: string) {
    this.trace.push(`${String(this.now()).padStart(6)} ${line}`)
  }

  violation(v: string) {
    this.violations.push(v)
    this.log(`VIOLATION ${v}`)
  }

  get program() {
    const world = this
    return Effect.gen(function* () {
      const clock = yield* Effect.clock
      world.now = () => clock.unsafeCurrentTimeMillis() - START_MILLIS
      world.log(
        `plan seed=${world.plan.seed} devices=${world.plan.devices.length} batch=${world.plan.batchSize} retention=${world.plan.logRetention} chaos=${world.plan.chaosMillis}ms` +
          // Only a light plan says its size: a full plan's trace is what it was before light plans existed.
          (world.plan.size === "light" ? " size=light" : "") +
          (world.variant ? ` variant=${world.variant.name}` : "")
      )
      for (const d of world.plan.devices)
        world.log(
          `plan d${d.index} joins at ${d.joinAt} skew ${d.skew} pulls from ${d.peers.map((p) => `d${p}`).join(",")}` +
            (world.devices[d.index]!.pg === undefined ? "" : " on postgres")
        )
      const network = yield* TransportMemory.makeNetwork
      const root = yield* Effect.scope
      for (const d of world.devices) {
        yield* Effect.forkIn(world.lifecycle(d, network), root)
      }
      yield* Effect.forkIn(world.watchRows, root)
      for (const action of world.plan.actions) {
        const wait = START_MILLIS + action.at - (yield* Clock.currentTimeMillis)
        if (wait > 0) yield* Effect.sleep(wait)
        yield* world.act(action, network)
      }
      yield* Effect.sleep(
        Math.max(0, START_MILLIS + world.plan.chaosMillis - (yield* Clock.currentTimeMillis))
      )
      yield* world.heal(network)
      const corruption = yield* Corruption.corruptAndRepair(
        world.plan.seed,
        world.devices.filter((d) => d.state === "up" && !d.leaving),
        (line) => world.log(line)
      )
      if (corruption.corrupted) world.covered.add("silent corruption")
      for (const v of corruption.violations) world.violation(v)
      yield* world.judge
    }).pipe(Effect.scoped)
  }

  /** A device's life: start (at its join time), run until it crashes, restart after its downtime, or leave. */
  lifecycle(d: SimDevice, network: TransportMemory.MemoryNetwork["Type"]) {
    const world = this
    return Effect.gen(function* () {
      if (d.plan.joinAt > 0) yield* Effect.sleep(d.plan.joinAt)
      for (;;) {
        const crashed = yield* Deferred.make<void>()
        // A hub's rows are read from its shadow, which is only refreshed where the simulation may wait.
        const gate = new Gate(d, crashed, () => d.pg === undefined && world.rowsNotBack(d))
        d.gate = gate
        const scope = yield* Scope.make()
        d.scope = scope
        d.delivered = new Map()
        d.state = "up"
        world.log(`start ${d.name}`)
        if (d.pending !== undefined && !world.healing) world.arm(d, gate, d.pending)
        d.pending = undefined
        const started = yield* Effect.exit(Scope.extend(world.start(d, gate, network), scope))
        if (Exit.isFailure(started) && gate.alive) {
          world.violation(`${d.name} failed to start: ${String(started.cause)}`)
          gate.kill()
        }
        yield* Deferred.await(crashed)
        d.state = "down"
        d.context = undefined
        yield* Scope.close(scope, Exit.void)
        if (d.leaving) {
          d.state = "left"
          world.log(`${d.name} left for good`)
          return
        }
        world.log(
          `crashed ${d.name} after ${gate.statements} statements${gate.lastStatement ? `, before: ${gate.lastStatement.replace(/\s+/g, " ").slice(0, 60)}` : ""}`
        )
        // A crash that leaves ranges of a split backfill recorded: the restart resumes them.
        if (splitRanges(d) > 0) world.covered.add("crash mid-split")
        yield* world.refreshShadows
        world.crashPoint(d)
        if (d.swap !== undefined) world.swapDatabases(d, d.swap.backup)
        d.swap = undefined
        yield* Effect.sleep(d.downMillis)
      }
    })
  }

  /** Open a device's stores on its held databases, connect it, and start its engine. */
  start(d: SimDevice, gate: Gate, network: TransportMemory.MemoryNetwork["Type"]) {
    const world = this
    return Effect.gen(function* () {
      const stores =
        d.pg === undefined
          ? yield* world.sqliteStores(d, d.sqlite!, gate)
          : yield* SimPg.deviceStores(
              d.pg,
              gate,
              { deviceId: d.id as DeviceId, libraryId: LIBRARY },
              { maxDriftMillis: Plan.MAX_DRIFT_MILLIS, skew: () => d.skew }
            )
      const context = yield* SimLayer.build(stores)
      const memory = yield* SimLayer.build(
        TransportMemory.layer.pipe(
          Layer.provide(
            Credentials.layer({ libraryId: LIBRARY, deviceId: d.id as DeviceId, secret: SECRET })
          ),
          Layer.provide(Layer.succeed(TransportMemory.MemoryNetwork, network))
        )
      )
      const inner = Context.get(memory, PeerTransport)
      const variant = d.pg === undefined ? world.variant : undefined
      const wrapped = variant?.transport?.(inner, Context.get(context, WatermarkStore)) ?? inner
      const transport = world.observed(d, wrapped)
      yield* SyncEngine.start({
        listen: d.address,
        peers: d.plan.peers.map((p) => world.devices[p]!.address),
        options: {
          batchSize: world.plan.batchSize,
          // Long live waits and a capped backoff of a second: fewer idle requests per simulated second.
          liveWaitMillis: 3_000,
          reconnectBaseMillis: 20,
          reconnectCapMillis: 1_000,
          spreadSettleMillis: 10,
          // Split even a small kind's backfill over several peers: the plans' kinds are a few pages at most.
          splitMinRows: 2,
          server: { logRetention: world.plan.logRetention }
        }
      }).pipe(Effect.provide(Context.add(context, PeerTransport, transport)))
      d.context = Context.add(context, PeerTransport, transport)
    })
  }

  /** A SQLite device's stores over its held databases, migrated first (with the variant's parts, if any). */
  sqliteStores(
    d: SimDevice,
    sqlite: { readonly library: SimSqlite.HeldDatabase; readonly sync: SimSqlite.HeldDatabase },
    gate: Gate
  ) {
    const world = this
    return Effect.gen(function* () {
      const libraryClient = yield* SimSqlite.make(sqlite.library, gate)
      const syncClient = yield* SimSqlite.make(sqlite.sync, gate)
      yield* SimOpen.open(sqlite, { library: libraryClient, sync: syncClient }, SimCatalog, {
        images: world.images,
        armed: gate.crashAt !== undefined,
        skip: (statements) => {
          gate.statements += statements
        }
      })
      const parts = {
        device: Layer.merge(LocalDevice.layer(d.id as DeviceId, LIBRARY), Layer.succeed(Kinds, SimCatalog)),
        syncDb: Layer.succeed(SyncDb, syncClient),
        libraryDb: Layer.succeed(LibraryDb, libraryClient)
      }
      return Device.assemble({
        device: parts.device,
        clock: HlcClockSqlite.layer({
          maxDriftMillis: Plan.MAX_DRIFT_MILLIS,
          wallClock: Effect.map(Clock.currentTimeMillis, (t) => t + d.skew)
        }).pipe(Layer.provide(Layer.merge(parts.syncDb, parts.device))),
        libraryDb: parts.libraryDb,
        syncStores: Device.sqliteSyncStores(parts.syncDb, parts.device, true),
        tables: undefined,
        overrides: world.variant?.overrides?.(parts),
        ...(world.variant?.libraryStore ? { libraryStore: world.variant.libraryStore(parts) } : {})
      })
    })
  }

  /**
   * Copy the hub's committed tables into its shadows, so the oracle reads them as they are now. Nothing to
   * run without a hub (most seeds): the 20 ms watch asks for this about 150 times a seed.
   */
  get refreshShadows() {
    return Effect.suspend(() => {
      const hubs = this.devices.filter((d) => d.pg !== undefined)
      return hubs.length === 0
        ? Effect.void
        : Effect.orDie(Effect.forEach(hubs, (d) => d.pg!.refresh, { discard: true }))
    })
  }

  /** The device's transport, recording the furthest page each stream was sent (and tracing pages). */
  observed(d: SimDevice, inner: PeerTransport["Type"]): PeerTransport["Type"] {
    const world = this
    const record = (conn: PeerConnection, request: PeerRequest, answer: unknown) => {
      if (request._tag === "PullRange") return recordRange(conn, request, answer)
      if (request._tag !== "Pull" && request._tag !== "PullLog") return
      const page = answer as {
        rows: ReadonlyArray<unknown>
        last: number
        caughtUp: boolean
        pruned?: boolean
      }
      if (page.pruned === true) {
        world.covered.add("pruned log")
        return
      }
      const peer = world.devices.find((p) => p.id === conn.peer)?.name ?? conn.peer
      const space = request._tag === "Pull" ? "table" : "log"
      const key = `${conn.peer}|${request.resource}|${space}`
      const before = d.delivered.get(key)
      const last = Math.max(page.last, before?.last ?? 0)
      const caughtUpAt = new Map(before?.caughtUpAt)
      if (space === "table" && page.rows.length > 0) caughtUpAt.set(page.last, page.caughtUp)
      d.delivered.set(key, { peer: conn.peer, resource: request.resource, space, last, caughtUpAt })
      if (page.rows.length > 0)
        world.log(
          `${d.name}<-${peer} ${request._tag} ${request.resource} after ${request.after}: ${page.rows.length} to ${page.last}`
        )
    }
    /** A range page of a split backfill (the device has ranges of the kind recorded), not reconciliation's. */
    const recordRange = (
      conn: PeerConnection,
      request: Extract<PeerRequest, { _tag: "PullRange" }>,
      answer: unknown
    ) => {
      if (splitRanges(d, request.resource) === 0) return
      world.covered.add("split backfill")
      const rows = (answer as { rows: ReadonlyArray<unknown> }).rows.length
      const peer = world.devices.find((p) => p.id === conn.peer)?.name ?? conn.peer
      world.log(
        `${d.name}<-${peer} range ${request.resource} [${request.range.lo}, ${request.range.hi}) after ${request.afterUuid.slice(0, 8) || "start"}: ${rows}`
      )
    }
    return {
      listen: inner.listen,
      connect: (address) =>
        Effect.map(inner.connect(address), (conn): PeerConnection => ({
          ...conn,
          send: ((request: PeerRequest) =>
            Effect.suspend(() => {
              if (
                request._tag === "Exchange" &&
                world.swaps.exchanged(
                  d.name,
                  world.devices.find((p) => p.id === conn.peer)?.name ?? conn.peer,
                  // A session's exchange names every kind; a state transfer's (which only asks where
                  // the peer's log ends) names none and says nothing of what the device holds.
                  request.holds.length > 0 && request.holds.every((h) => h.seq === 0)
                )
              )
                for (const [key, stream] of d.delivered)
                  if (stream.peer === conn.peer) d.delivered.delete(key)
              return Effect.tap(conn.send(request), (answer) =>
                Effect.sync(() => record(conn, request, answer))
              )
            })) as PeerConnection["send"]
        }))
    }
  }

  /** Arm `gate` to crash at `action`'s statement. */
  arm(d: SimDevice, gate: Gate, action: Extract<Plan.Action, { _tag: "Crash" }>) {
    this.covered.add(
      action.statementLike
        ? `crash ${action.after ? "after" : "before"} ${action.statementLike}`
        : "crash at a statement"
    )
    this.log(
      `crash ${d.name} armed: ${action.after ? "after" : "before"} its ${action.afterStatements}th next statement${action.statementLike ? ` with ${action.statementLike}` : ""}`
    )
    d.downMillis = action.downMillis
    gate.countdown = 0
    gate.struck = false
    gate.crashLike = action.statementLike
    gate.crashAfter = action.after
    gate.crashAt = action.afterStatements ?? undefined
  }

  act(
    action: Plan.Action,
    network: TransportMemory.MemoryNetwork["Type"]
  ): Effect.Effect<void, never, Runtime.Outside> {
    const world = this
    const d = "device" in action ? this.devices[action.device]! : undefined
    switch (action._tag) {
      case "Write":
      case "Remove":
        return this.write(d!, action)
      case "Crash": {
        if ((d!.state === "waiting" || d!.state === "down") && action.afterStatements !== null) {
          this.log(`crash ${d!.name} armed for its next start`)
          d!.pending = action
          return Effect.void
        }
        if (d!.state !== "up" || d!.gate === undefined) return Effect.void
        d!.downMillis = action.downMillis
        if (action.afterStatements === null) {
          this.covered.add("crash at a wait")
          this.log(`crash ${d!.name} now`)
          return Effect.sync(() => d!.gate!.kill())
        }
        this.arm(d!, d!.gate, action)
        return Effect.void
      }
      case "Partition": {
        this.covered.add("partition")
        const groups = action.groups.map((g) => g.map((i) => this.devices[i]!.id))
        this.log(`partition ${action.groups.map((g) => g.map((i) => `d${i}`).join(",")).join(" | ")}`)
        return network.partition(groups)
      }
      case "Heal":
        this.log("heal")
        return network.heal
      case "Faults":
        for (const [k, v] of Object.entries(action.faults))
          if (typeof v === "number" && v > 0 && k !== "timeoutMillis") this.covered.add(`faults ${k}`)
        this.log(`faults ${JSON.stringify(action.faults)}`)
        return network.setFaults(action.faults)
      case "Skew":
        this.covered.add(
          Math.abs(action.skew) > Plan.MAX_DRIFT_MILLIS ? "skew beyond drift" : "skew within drift"
        )
        this.log(`skew ${d!.name} ${action.skew}`)
        return Effect.sync(() => {
          d!.skew = action.skew
        })
      case "Backup":
        return this.backup(d!)
      case "Restore":
      case "Replace":
        return this.swap(d!, action)
      case "Leave":
        if (d!.state !== "up" || d!.gate === undefined) return Effect.void
        this.covered.add("device left")
        this.log(`${d!.name} leaves`)
        return Effect.sync(() => {
          d!.leaving = true
          d!.gate!.kill()
        })
    }
    return Effect.sync(() => world.log("unknown action"))
  }

  /**
   * Copy the device's two databases as committed at one instant, once neither is mid-transaction (a
   * transaction's statements run at one instant of simulated time or a few, so this waits little).
   */
  backup(d: SimDevice): Effect.Effect<void> {
    const world = this
    return Effect.gen(function* () {
      if (d.sqlite === undefined || (d.state !== "up" && d.state !== "down")) {
        world.log(`backup of ${d.name} skipped: ${d.sqlite === undefined ? "on postgres" : d.state}`)
        return
      }
      for (let tries = 0; tries < 2_000; tries++) {
        if (d.state !== "up" && d.state !== "down") break
        if (!d.sqlite.library.inTransaction && !d.sqlite.sync.inTransaction) {
          world.swaps.backup(d.name, d.sqlite.library.snapshot()!, d.sqlite.sync.snapshot()!, world.now())
          world.covered.add("backup")
          world.log(`backup of ${d.name}: both databases as committed now`)
          return
        }
        // Let the device finish its transaction; now and then let time move, for one that waits inside.
        yield* tries % 50 === 49 ? Effect.sleep(1) : Effect.yieldNow()
      }
      world.log(`backup of ${d.name} skipped: always mid-transaction`)
    })
  }

  /**
   * Restore the device's two databases from its latest backup, or replace them by new empty ones: it
   * crashes (when up), the files are swapped while it is down, and it restarts after `downMillis`.
   */
  swap(
    d: SimDevice,
    action: Extract<Plan.Action, { _tag: "Restore" | "Replace" }>
  ): Effect.Effect<void, never, Runtime.Outside> {
    const world = this
    const backup = action._tag === "Restore" ? this.swaps.latestBackup(d.name) : undefined
    const skip =
      d.sqlite === undefined
        ? "on postgres"
        : d.state === "waiting" || d.state === "left" || d.leaving
          ? d.state
          : action._tag === "Restore" && backup === undefined
            ? "no backup"
            : undefined
    if (skip !== undefined)
      return Effect.sync(() => world.log(`${action._tag} of ${d.name} skipped: ${skip}`))
    return Effect.gen(function* () {
      world.covered.add(action._tag === "Restore" ? "restore from a backup" : "databases replaced")
      d.downMillis = action.downMillis
      if (d.state === "up" && d.gate !== undefined) {
        world.log(`${action._tag === "Restore" ? "restore" : "replace"} ${d.name}: it crashes now`)
        d.swap = { backup }
        d.gate.kill()
        return
      }
      // Down (crashed, not restarted yet): the files are swapped at once.
      yield* world.refreshShadows
      world.swapDatabases(d, backup)
    })
  }

  /**
   * Put `backup` (or new empty databases) in place of the device's, while it is down, and tell the oracle:
   * the device's rows went back (its watch starts afresh), its peers' cursors for it are stale, and the
   * acknowledged writes no device holds any more are in doubt.
   */
  swapDatabases(d: SimDevice, backup: Restores.Backup | undefined) {
    d.sqlite!.library.load(backup?.library)
    d.sqlite!.sync.load(backup?.sync)
    this.log(
      backup === undefined
        ? `replaced ${d.name}'s databases with new empty ones`
        : `restored ${d.name}'s databases from its backup of ${backup.at} ms`
    )
    this.seen.delete(d.name)
    this.lookedAt.delete(d.name)
    for (const other of this.devices)
      for (const [key, stream] of other.delivered) if (stream.peer === d.id) other.delivered.delete(key)
    this.swaps.swapped(
      d.name,
      this.devices.filter((o) => o !== d).map((o) => o.name),
      this.now(),
      backup
    )
    const present = this.devices.filter((o) => o.state !== "left" && !o.leaving)
    for (const i of this.swaps.inDoubtAfterSwap(this.writes, present)) {
      const w = this.writes[i]!
      this.writes[i] = { ...w, version: undefined }
      this.log(`in doubt now: ${w.kind}/${w.uuid} ${w.version} (no device holds it)`)
    }
  }

  /** A write or delete on a device that is up, concurrent with everything else; acknowledged when it returns. */
  write(d: SimDevice, action: Extract<Plan.Action, { _tag: "Write" | "Remove" }>): Effect.Effect<void> {
    if (d.state !== "up" || d.context === undefined || d.scope === undefined) return Effect.void
    const world = this
    const uuid = Plan.slotUuid(action.kind, d.plan.index, action.slot)
    const name = `w${this.writes.length}`
    const target = Plan.slotUuid(action.kind === "file" ? "note" : "tag", d.plan.index, action.slot)
    const fields = action._tag === "Write" ? fieldsFor(action.kind, name, action.at, target) : undefined
    const attempt = {
      kind: action.kind,
      uuid,
      device: d.id,
      by: d.plan.index,
      deleted: action._tag === "Remove",
      fields
    }
    const index = this.writes.push({ ...attempt, version: undefined }) - 1
    const run = Effect.gen(function* () {
      const library = yield* Library
      const rows =
        action._tag === "Write"
          ? yield* library.write(action.kind, [{ uuid: Uuid.make(uuid), fields: fields! }])
          : yield* Effect.map(library.remove(action.kind, Uuid.make(uuid)), (r) => [r])
      const row = rows[0]!
      world.writes[index] = {
        ...attempt,
        fields: row.deleted ? undefined : attempt.fields,
        version: row.version
      }
      world.log(
        `${d.name} ${action._tag === "Write" ? "wrote" : "deleted"} ${action.kind}/${uuid} ${row.version}`
      )
    }).pipe(
      Effect.catchAll((e) =>
        Effect.sync(() => {
          if (e._tag === "RowNotFoundError")
            world.writes.splice(index, 1, {
              ...attempt,
              deleted: false,
              fields: {},
              device: "none",
              version: undefined
            })
          world.log(`${d.name} ${action._tag} ${action.kind}/${uuid} failed: ${e._tag}`)
        })
      ),
      Effect.provide(d.context)
    )
    this.covered.add(
      action._tag === "Write" ? (SimCatalog.isShared(action.kind) ? "shared write" : "owned write") : "delete"
    )
    return Effect.asVoid(Effect.forkIn(run, d.scope))
  }

  /** The newest version of each row each device was seen to hold. */
  readonly seen = new Map<string, Map<string, string>>()

  /**
   * Per device, its database.db's count of changes when its rows were last read (present once its schema
   * was complete, which it stays: no table is ever dropped).
   */
  readonly lookedAt = new Map<string, number>()

  /** No row of `d` went back since last seen (last writer wins never regresses). */
  rowsNotBack(d: SimDevice) {
    // Not while a device opens (its tables may not exist yet).
    if (d.context === undefined) return
    // Nothing ran that could change a row since the last look: the same rows (this check runs before every
    // transaction, and most transactions are on sync.db).
    const looked = this.lookedAt.get(d.name)
    if (looked === d.library.changes) return
    if (looked === undefined && !Oracle.schemaComplete(SimCatalog, d)) return
    let seen = this.seen.get(d.name)
    if (seen === undefined) this.seen.set(d.name, (seen = new Map()))
    const changes = d.library.changes
    const violations = Oracle.noRowBack(SimCatalog, d, seen)
    // A read mid-transaction reads nothing: look again next time.
    if (!d.library.inTransaction) this.lookedAt.set(d.name, changes)
    for (const v of violations) this.violation(v)
  }

  /**
   * Every 20 ms of simulated time, and before every transaction a device begins (so also when many
   * transactions follow one another at one instant of simulated time), no row of any device went back.
   */
  get watchRows() {
    const world = this
    return Effect.forever(
      Effect.sleep(20).pipe(
        Effect.zipRight(world.refreshShadows),
        Effect.zipRight(
          Effect.sync(() => {
            for (const d of world.devices) world.rowsNotBack(d)
          })
        )
      )
    )
  }

  /** The peers whose databases `d`'s cursors describe as they are (none was swapped since unnoticed). */
  judgedPeers(d: SimDevice): ReadonlyArray<SimDevice> {
    return this.devices.filter((p) => this.swaps.judges(d.name, p.name))
  }

  /** At a crash point: the crashed device's committed state, against every other device's. */
  crashPoint(d: SimDevice) {
    if (!Oracle.schemaComplete(SimCatalog, d)) {
      this.log(`${d.name} crashed before its schema was complete: nothing to judge yet`)
      return
    }
    // A peer whose files have no schema yet (replaced by new empty ones and not started since, or crashed
    // while creating it) holds no rows: nothing of it can be missing here, and its tables cannot be read.
    const peers = this.judgedPeers(d).filter((p) => Oracle.schemaComplete(SimCatalog, p))
    for (const v of Oracle.cursorsBehindData(SimCatalog, d, peers))
      this.violation(`at the crash of ${d.name}: ${v}`)
    const delivered = [...d.delivered.values()].filter((s) => peers.some((p) => p.id === s.peer))
    for (const v of Oracle.checkpointsAtWatermarks(SimCatalog, d, peers, delivered))
      this.violation(`at the crash of ${d.name}: ${v}`)
    for (const v of Oracle.receivedAgain(SimCatalog, d, peers, delivered, 2 * this.plan.batchSize))
      this.violation(v)
  }

  /** Heal everything, let crashed devices come back, and wait until every device holds the same rows. */
  heal(network: TransportMemory.MemoryNetwork["Type"]) {
    const world = this
    return Effect.gen(function* () {
      world.healing = true
      world.log("healing: network healed, faults off, clocks within the drift limit, crashes disarmed")
      yield* network.heal
      yield* network.setFaults(TransportMemory.noFaults)
      for (const d of world.devices) {
        if (Math.abs(d.skew) > Plan.MAX_DRIFT_MILLIS / 2) d.skew = Math.sign(d.skew) * 100
        if (d.gate !== undefined && d.gate.alive) {
          d.gate.crashAt = undefined
          d.gate.struck = false
        }
      }
      const until = (yield* Clock.currentTimeMillis) + CONVERGE_MILLIS
      for (;;) {
        yield* Effect.sleep(100)
        yield* world.refreshShadows
        const present = world.devices.filter((d) => d.state !== "left" && !d.leaving)
        const dumps = present.map((d) => (d.state === "up" ? Oracle.dump(SimCatalog, d) : undefined))
        const first = dumps[0]
        if (
          first !== undefined &&
          dumps.every((x) => x !== undefined && x.join("\n") === first.join("\n")) &&
          Oracle.mergeOfWrites(SimCatalog, first, world.judgedWrites()).length === 0
        ) {
          world.log(`converged: ${present.length} devices hold the same ${first.length} rows`)
          return
        }
        if ((yield* Clock.currentTimeMillis) >= until) {
          world.log(`not converged within ${CONVERGE_MILLIS} ms after healing`)
          return
        }
      }
    })
  }

  /**
   * The writes as the oracle judges them: those of devices that left are in doubt (they may never have left
   * it), and so are those that, at a restore or replacement, only devices that later left still held.
   */
  judgedWrites(): ReadonlyArray<Oracle.Written> {
    const left = (name: string) => this.devices.find((d) => d.name === name)!.leaving
    return this.writes.map((w, i) =>
      (this.devices[w.by]!.leaving || this.swaps.restsOnLeavers(i, left)) && w.version !== undefined
        ? { ...w, version: undefined }
        : w
    )
  }

  get judge() {
    const world = this
    return Effect.zipRight(
      world.refreshShadows,
      Effect.sync(() => {
        const present = world.devices.filter((d) => d.state !== "left" && !d.leaving)
        const dumps = present.map((d) => ({ d, lines: Oracle.dump(SimCatalog, d) }))
        const first = dumps[0]!
        for (const { d, lines } of dumps) {
          if (lines === undefined) world.violation(`${d.name} is mid-transaction at the end`)
          else if (lines.join("\n") !== first.lines?.join("\n")) {
            const a = new Set(first.lines)
            const b = new Set(lines)
            world.violation(
              `${d.name} differs from ${first.d.name}: only on ${d.name}: ${lines
                .filter((l) => !a.has(l))
                .slice(0, 3)
                .join(" ")}; only on ${first.d.name}: ${(first.lines ?? [])
                .filter((l) => !b.has(l))
                .slice(0, 3)
                .join(" ")}`
            )
          }
        }
        for (const v of Oracle.mergeOfWrites(SimCatalog, first.lines ?? [], world.judgedWrites()))
          world.violation(v)
        for (const d of present)
          for (const v of Oracle.cursorsBehindData(SimCatalog, d, world.judgedPeers(d)))
            world.violation(`after healing: ${v}`)
      })
    )
  }
}
