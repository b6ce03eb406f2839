// The moving parts of the chaos test (test/Chaos.test.ts): a seeded generator for its choices, a fleet of
// real daemon processes that can be SIGKILLed and started again on the same data directory and address,
// folders changed on disk while they are indexed, and the scan of the daemons' logs for defects.
import { Deferred, Effect, type Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"
import { DAEMON } from "./daemons.js"

/** mulberry32: a small seeded generator, so every choice of a run follows from its printed seed. */
export const prng = (seed: number) => {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return {
    next,
    /** An integer in [lo, hi]. */
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <A>(items: ReadonlyArray<A>): A => items[Math.floor(next() * items.length)]!,
    chance: (p: number) => next() < p
  }
}
export type Prng = ReturnType<typeof prng>

/** One run of a daemon process, from spawn to exit. */
export interface Incarnation {
  readonly process: ChildProcess
  readonly log: () => string
  readonly exited: Effect.Effect<number | string>
  /** Set before the test SIGKILLs it: an exit the test did not cause is a defect. */
  killedByTest: boolean
  stoppedByTest: boolean
}

/** A device's daemon across its incarnations: the same data directory, address and peers every time. */
export interface Member {
  readonly name: string
  readonly dir: string
  readonly listen: string
  readonly args: ReadonlyArray<string>
  readonly incarnations: Array<Incarnation>
}

const running = (i: Incarnation | undefined) =>
  i !== undefined && i.process.exitCode === null && i.process.signalCode === null

export const isUp = (m: Member) => running(m.incarnations.at(-1))

/**
 * Spawn a new incarnation (without waiting for it to listen: the chaos may kill it while it starts). The
 * scope that made the fleet kills whatever still runs when it closes.
 */
export const startIncarnation = (m: Member) =>
  Effect.gen(function* () {
    const exit = yield* Deferred.make<number | string>()
    const child = spawn(process.execPath, [DAEMON, ...m.args], { stdio: ["ignore", "pipe", "pipe"] })
    child.once("exit", (code, signal) => Deferred.unsafeDone(exit, Effect.succeed(code ?? signal ?? -1)))
    let output = ""
    child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()))
    const incarnation: Incarnation = {
      process: child,
      log: () => output,
      exited: Deferred.await(exit),
      killedByTest: false,
      stoppedByTest: false
    }
    m.incarnations.push(incarnation)
    return incarnation
  })

/** The fleet's members, each killed (SIGKILL) when the scope closes if it still runs. */
export const fleet = (
  members: ReadonlyArray<Omit<Member, "incarnations">>
): Effect.Effect<ReadonlyArray<Member>, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => members.map((m) => ({ ...m, incarnations: [] as Array<Incarnation> }))),
    (all) => Effect.forEach(all, (m) => kill(m))
  )

/** SIGKILL the running incarnation and wait until it is gone. */
export const kill = (m: Member) =>
  Effect.suspend(() => {
    const last = m.incarnations.at(-1)
    if (last === undefined || !running(last)) return Effect.void
    last.killedByTest = true
    last.process.kill("SIGKILL")
    return Effect.asVoid(last.exited)
  })

/** SIGTERM the running incarnation; its exit code (0 is a graceful shutdown). */
export const stop = (m: Member) =>
  Effect.suspend(() => {
    const last = m.incarnations.at(-1)!
    last.stoppedByTest = true
    last.process.kill("SIGTERM")
    return last.exited
  })

/** Wait until the running incarnation logs `text`. */
export const waitForLog = (m: Member, text: string) =>
  Effect.gen(function* () {
    for (;;) {
      const last = m.incarnations.at(-1)!
      if (last.log().includes(text)) return
      if (!running(last)) return yield* Effect.fail(new Error(`${m.name} exited:\n${last.log()}`))
      yield* Effect.sleep("50 millis")
    }
  }).pipe(
    Effect.timeoutFail({
      duration: "60 seconds",
      onTimeout: () => new Error(`${m.name} did not log "${text}" in time`)
    })
  )

// ---- folders changed while they are indexed ----

/**
 * Make one random change under `root`: a new file, a file rewritten (another size), a file removed, a new
 * folder, or (rarely) a folder removed with what it holds. Names never repeat, so every change is visible.
 */
export const changeFolder = (root: string, rng: Prng, counter: { n: number }) => {
  const dirs: Array<string> = []
  const files: Array<string> = []
  const walk = (dir: string, depth: number) => {
    dirs.push(dir)
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) {
        if (depth < 3) walk(join(dir, e.name), depth + 1)
        else dirs.push(join(dir, e.name))
      } else files.push(join(dir, e.name))
    }
  }
  walk(root, 0)
  counter.n += 1
  const n = counter.n
  const roll = rng.next()
  try {
    if (roll < 0.35 || files.length < 5) {
      writeFileSync(join(rng.pick(dirs), `f${n}.txt`), "x".repeat(rng.int(0, 400)))
    } else if (roll < 0.6) {
      writeFileSync(rng.pick(files), "y".repeat(rng.int(401, 900)))
    } else if (roll < 0.8) {
      rmSync(rng.pick(files), { force: true })
    } else if (roll < 0.95 || dirs.length < 3) {
      mkdirSync(join(rng.pick(dirs), `d${n}`))
    } else {
      const victim = rng.pick(dirs.filter((d) => d !== root))
      rmSync(victim, { recursive: true, force: true })
    }
  } catch {
    // A path chosen from a listing may be gone already (another change): the next change goes elsewhere.
  }
}

/** What a folder holds: "relative/path|kind|size" per file and folder below it, sorted. */
export const folderTree = (root: string): ReadonlyArray<string> => {
  const out: Array<string> = []
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name)
      const rel = relative(root, path)
      if (e.isDirectory()) {
        out.push(`${rel}|dir|0`)
        walk(path)
      } else if (e.isFile()) out.push(`${rel}|file|${statSync(path).size}`)
    }
  }
  walk(root)
  return out.sort()
}

/** The same shape from dump rows: the live entries of one location, their paths from the parent chain. */
export const dumpTree = (
  rows: ReadonlyArray<Record<string, unknown>>,
  location: string
): ReadonlyArray<string> => {
  const entries = new Map(
    rows
      .filter((r) => r.resource === "entry" && r.location === location && r.deleted === false)
      .map((r) => [r.uuid as string, r])
  )
  const pathOf = (r: Record<string, unknown>): string => {
    const parent = r.parent === null ? undefined : entries.get(r.parent as string)
    if (r.parent !== null && parent === undefined) return `<orphan of ${String(r.parent)}>/${String(r.name)}`
    return parent === undefined ? String(r.name) : `${pathOf(parent)}/${String(r.name)}`
  }
  return [...entries.values()].map((r) => `${pathOf(r)}|${String(r.kind)}|${String(r.size)}`).sort()
}

// ---- the daemons' logs ----

/**
 * Lines a daemon logs because a peer was killed, restarted or not yet listening: the chaos's own doing. Each
 * is a warning about a peer connection (refused, reset, closed mid-request, timed out) or the retry that
 * follows, never an ERROR or a defect.
 */
const LOST = "(ECONNREFUSED|ECONNRESET|EPIPE|the peer closed the connection)"
export const EXPECTED_WARNINGS: ReadonlyArray<RegExp> = [
  // A pull session whose peer died (reset, broken pipe, closed) or is not listening yet (refused). The
  // reason is sometimes given twice ("peer X unavailable: peer X unavailable: …").
  new RegExp(`^Sync with (\\S+) stopped: (peer \\1 unavailable: )+${LOST}; reconnecting$`),
  // A peer pruned its shared log past this device's cursor. A peer prunes by the acknowledgements of the
  // devices that ever acknowledged (docs/protocol.md); a device killed after its first state transfer from
  // that peer but before its first acknowledgement does not hold the log back, so it transfers state again.
  // A peer killed in the middle of the TLS handshake: its connection ends before it could prove the secret.
  /^refused a device that did not prove the library secret from .+ \(TLS: (ECONNRESET|EPIPE)\)$/,
  // A folder removed while the daemon's watcher scanned it: its entries stay until the next scan, which the
  // removal itself triggers (the test's final check sees them gone).
  /^Cannot list \S+: no such file or directory; keeping its entries$/,
  /^The shared log of [0-9a-f-]{36} no longer holds the \w+ changes after \d+: transferring state again$/
]

/** One line per log event: "<ISO time> <LEVEL> <text>". */
const LINE = /^\d{4}-\d\d-\d\dT[\d:.]+Z (\w+)\s+(.*)$/

/**
 * The lines of a daemon's log that show a defect: an ERROR or FATAL event, a warning not in
 * EXPECTED_WARNINGS, an "internal error" from the daemon's last resort, or any line that is not a log event
 * (a stack trace, an uncaught exception printed by Node).
 */
export const defectsIn = (log: string): ReadonlyArray<string> =>
  log
    .split("\n")
    .filter((l) => l.length > 0)
    .filter((line) => {
      const m = LINE.exec(line)
      if (m === null) return true
      const [, level, text] = m as unknown as [string, string, string]
      if (level === "ERROR" || level === "FATAL") return true
      if (level === "WARN") return !EXPECTED_WARNINGS.some((re) => re.test(text))
      return /internal error|defect/i.test(text)
    })

/** Warnings the chaos caused, with identifiers and numbers blanked, and how often each came. */
export const warningKinds = (log: string): Map<string, number> => {
  const kinds = new Map<string, number>()
  for (const line of log.split("\n")) {
    const m = LINE.exec(line)
    if (m === null || m[1] !== "WARN") continue
    const kind = m[2]!
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<uuid>")
      .replace(/\d+/g, "N")
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1)
  }
  return kinds
}
