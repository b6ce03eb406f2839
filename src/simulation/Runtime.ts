// The simulator's runtime: a scheduler that runs fibers' tasks in one FIFO queue and a Clock whose time moves
// only when nothing else can run. Keeps: a simulation is a deterministic function of its program. Every task
// runs in an order fixed by the program (Effect's default scheduler falls back to a real setTimeout after
// 2,048 microtask rounds, and TestClock yields with a real setTimeout, and either can interleave with
// setImmediate differently from run to run); the only other asynchronous hop, the pull stream's
// setImmediate, is drained in FIFO order before time moves. Work outside the process (a PostgreSQL statement)
// runs through `Outside`: while it is under way no task runs and time stands still, so its result arrives at
// the same point of every run.
import { Clock, Context, Duration, Effect, Exit, type Fiber, GlobalValue, Scheduler } from "effect"

interface OutsideWork {
  readonly start: () => Promise<unknown>
  readonly resume: (result: Effect.Effect<unknown, unknown>) => void
}

/**
 * Work outside the simulation that the simulation waits for, one piece at a time and in the order asked:
 * to the simulated devices it takes no time and nothing happens meanwhile, like a statement on SQLite.
 */
export class Outside extends Context.Tag("tidemark/simulation/Outside")<
  Outside,
  {
    /** Run `start` and give its result (a rejection fails with the reason). */
    readonly run: <A>(start: () => Promise<A>) => Effect.Effect<A, unknown>
    /** Run `start` before any other task, without waiting for it (what a crash does to a connection). */
    readonly fire: (start: () => Promise<unknown>) => void
  }
>() {}

/** The scheduler of a simulation: a FIFO queue that `Runtime.run` drains. */
class QueueScheduler implements Scheduler.Scheduler {
  private tasks: Array<Scheduler.Task> = []
  /** How many tasks ran: a measure of work done. */
  ran = 0
  /** How many Effect operations ran (the runtime asks `shouldYield` before each): a finer measure. */
  operations = 0

  scheduleTask(task: Scheduler.Task): void {
    this.tasks.push(task)
  }

  shouldYield(fiber: Fiber.RuntimeFiber<unknown, unknown>): number | false {
    this.operations++
    // The default scheduler's rule: yield after a fiber's 2,048th operation in a row.
    return fiber.currentOpCount > 2_048 ? 0 : false
  }

  get idle(): boolean {
    return this.tasks.length === 0
  }

  /**
   * Run every queued task, and the tasks they queue, until none is left, `limit` tasks ran in all, or a
   * task asked for outside work (`waiting`).
   */
  drain(limit = Infinity, waiting: () => boolean = () => false): void {
    while (this.tasks.length > 0 && this.ran <= limit) {
      const batch = this.tasks
      this.tasks = []
      for (let i = 0; i < batch.length; i++) {
        this.ran++
        batch[i]!()
        if (this.ran > limit || waiting()) {
          this.tasks = [...batch.slice(i + 1), ...this.tasks]
          return
        }
      }
    }
  }
}

interface Sleeper {
  readonly at: number
  readonly order: number
  readonly wake: () => void
}

/** Simulated time: starts at `startMillis`, and moves to the next sleeper's time when everything waits. */
class SimulatedClock implements Clock.Clock {
  readonly [Clock.ClockTypeId]: Clock.ClockTypeId = Clock.ClockTypeId
  now: number
  private sleepers: Array<Sleeper> = []
  private order = 0

  constructor(startMillis: number) {
    this.now = startMillis
  }

  unsafeCurrentTimeMillis(): number {
    return this.now
  }
  readonly currentTimeMillis = Effect.sync(() => this.now)
  unsafeCurrentTimeNanos(): bigint {
    return BigInt(this.now) * 1_000_000n
  }
  readonly currentTimeNanos = Effect.sync(() => this.unsafeCurrentTimeNanos())

  sleep(duration: Duration.Duration): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      const millis = Math.max(0, Math.ceil(Duration.toMillis(duration)))
      const sleeper: Sleeper = { at: this.now + millis, order: this.order++, wake: () => resume(Effect.void) }
      this.insert(sleeper)
      return Effect.sync(() => {
        const i = this.sleepers.indexOf(sleeper)
        if (i >= 0) this.sleepers.splice(i, 1)
      })
    })
  }

  /** Keep sleepers sorted by wake time, then by when they began to sleep. */
  private insert(sleeper: Sleeper) {
    let lo = 0
    let hi = this.sleepers.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const s = this.sleepers[mid]!
      if (s.at < sleeper.at || (s.at === sleeper.at && s.order < sleeper.order)) lo = mid + 1
      else hi = mid
    }
    this.sleepers.splice(lo, 0, sleeper)
  }

  /** Move time to the earliest sleeper and wake every sleeper due then; false when nobody sleeps. */
  advance(): boolean {
    const first = this.sleepers[0]
    if (first === undefined) return false
    this.now = Math.max(this.now, first.at)
    while (this.sleepers.length > 0 && this.sleepers[0]!.at <= this.now) this.sleepers.shift()!.wake()
    return true
  }
}

/** Nothing can run and nobody sleeps: the program waits for something that will never happen. */
export class Deadlock extends Error {
  constructor(readonly atMillis: number) {
    super(`the simulation deadlocked at ${atMillis} ms: every fiber waits and no timer is set`)
  }
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Fibers kept running without letting time move: a storm of messages, or a loop that never waits. */
export class Livelock extends Error {
  constructor(
    readonly atMillis: number,
    readonly tasks: number
  ) {
    super(`the simulation did not settle: ${tasks} tasks ran and time stood at ${atMillis} ms`)
  }
}

/**
 * Effect's global fiber scope keeps every daemon fiber (`Effect.forkIn` forks one) until it ends. A run ends
 * with fibers that never will: a crashed device's, stopped in the middle of a statement, and whatever waits
 * when the program ends. Their scheduler is dropped with the run, so they are only memory (with the device's
 * databases they hold): about thirty fibers a seed, which made a worker's seeds slower the longer it ran.
 * (`roots` is the set the global scope keeps; read through GlobalValue, where Effect registers the scope.)
 */
const globalRoots = (): Set<unknown> | undefined =>
  (GlobalValue.globalValue(Symbol.for("effect/FiberScope/Global"), () => ({})) as { roots?: Set<unknown> })
    .roots

/** What running a program deterministically gave, and how much work it took. */
export interface RunResult<A, E> {
  readonly exit: Exit.Exit<A, E>
  readonly tasks: number
  readonly operations: number
  readonly endMillis: number
}

/**
 * Run `program` on the simulator's scheduler and clock until it ends. Time starts at `startMillis` and moves
 * only when every fiber waits; the program's Clock is that simulated time. A program that runs more than
 * `maxTasks` tasks in all is stopped as a livelock.
 */
export const run = async <A, E>(
  program: Effect.Effect<A, E, Outside>,
  startMillis: number,
  maxTasks = 500_000
): Promise<RunResult<A, E>> => {
  const roots = globalRoots()
  const before = new Set(roots)
  try {
    return await runOn(program, startMillis, maxTasks)
  } finally {
    // The run's own daemon fibers that did not end are let go (see globalRoots).
    if (roots !== undefined) for (const fiber of roots) if (!before.has(fiber)) roots.delete(fiber)
  }
}

const runOn = async <A, E>(
  program: Effect.Effect<A, E, Outside>,
  startMillis: number,
  maxTasks: number
): Promise<RunResult<A, E>> => {
  const scheduler = new QueueScheduler()
  const clock = new SimulatedClock(startMillis)
  const outside: Array<OutsideWork> = []
  const service = Outside.of({
    run: <A>(start: () => Promise<A>) =>
      Effect.async<A, unknown>((resume) => {
        outside.push({ start, resume: resume as OutsideWork["resume"] })
      }),
    fire: (start) => {
      outside.push({ start, resume: () => {} })
    }
  })
  const fiber = Effect.runFork(
    program.pipe(
      Effect.provideService(Outside, service),
      Effect.withClock(clock),
      Effect.withScheduler(scheduler)
    ),
    { scheduler }
  )
  let exit: Exit.Exit<A, E> | undefined
  fiber.addObserver((e) => {
    exit = e
  })
  for (;;) {
    scheduler.drain(maxTasks, () => outside.length > 0)
    // Outside work, one piece at a time in the order asked; each result resumes its fiber as a task.
    while (outside.length > 0) {
      const work = outside.shift()!
      // A resumption queued with setImmediate before this work reaches the scheduler first, whenever the
      // server answers.
      await nextTurn()
      try {
        const value = await work.start()
        work.resume(Effect.succeed(value))
      } catch (reason) {
        work.resume(Effect.fail(reason))
      }
    }
    if (exit !== undefined) break
    if (scheduler.ran > maxTasks) {
      fiber.unsafeInterruptAsFork(fiber.id())
      return {
        exit: Exit.die(new Livelock(clock.now - startMillis, scheduler.ran)),
        tasks: scheduler.ran,
        operations: scheduler.operations,
        endMillis: clock.now
      }
    }
    // Let resumptions queued with setImmediate (before this one, so in a fixed order) reach the scheduler.
    await nextTurn()
    if (!scheduler.idle) continue
    if (!clock.advance()) {
      fiber.unsafeInterruptAsFork(fiber.id())
      scheduler.drain()
      return {
        exit: Exit.die(new Deadlock(clock.now - startMillis)),
        tasks: scheduler.ran,
        operations: scheduler.operations,
        endMillis: clock.now
      }
    }
  }
  return { exit, tasks: scheduler.ran, operations: scheduler.operations, endMillis: clock.now }
}
