// The plan of one simulated run, a pure function of its seed: the devices (how many, when they join, their
// clock skew, whom they pull from), the engine's page size and log retention, and a timed list of actions
// (writes, deletes and re-creations, crashes, partitions, heals, network faults, skew changes, departures,
// backups and restores of a device's databases, their replacement by new empty ones).
import { DeviceId } from "../domain/Ids.js"
import type { Faults } from "../layers/TransportMemory.js"
import { Prng } from "./Prng.js"
import { SimCatalog } from "./SimSchema.js"

/** The drift limit of every simulated clock; skews within it are at most ±SKEW_WITHIN. */
export const MAX_DRIFT_MILLIS = 2_000
const SKEW_WITHIN = 900

export interface DevicePlan {
  readonly index: number
  readonly id: DeviceId
  /** Milliseconds after the start when the device first starts (0: at once). */
  readonly joinAt: number
  /** Its physical clock's offset from simulated time at the start. */
  readonly skew: number
  /** Indexes of the devices it is told to pull from (those pull back once it caught up with them). */
  readonly peers: ReadonlyArray<number>
}

/**
 * What happens at `at` ms after the start. A crash is immediate (`afterStatements` null) or armed to strike
 * before the device's n-th next SQL statement; the device restarts `downMillis` after it. A crash armed
 * while the device is not running (before it joins, or while it is down) strikes its next incarnation.
 */
export type Action =
  | {
      readonly _tag: "Write"
      readonly at: number
      readonly device: number
      readonly kind: string
      readonly slot: number
    }
  | {
      readonly _tag: "Remove"
      readonly at: number
      readonly device: number
      readonly kind: string
      readonly slot: number
    }
  | {
      readonly _tag: "Crash"
      readonly at: number
      readonly device: number
      readonly afterStatements: number | null
      /** Count only statements containing this text ("" for any): aims crashes at the commit boundaries. */
      readonly statementLike: string
      /**
       * Strike just after the counted statement instead (before whatever statement comes next): a crash
       * between two transactions, such as after one commit and before the next.
       */
      readonly after: boolean
      readonly downMillis: number
    }
  | { readonly _tag: "Partition"; readonly at: number; readonly groups: ReadonlyArray<ReadonlyArray<number>> }
  | { readonly _tag: "Heal"; readonly at: number }
  | { readonly _tag: "Faults"; readonly at: number; readonly faults: Faults }
  | { readonly _tag: "Skew"; readonly at: number; readonly device: number; readonly skew: number }
  | { readonly _tag: "Leave"; readonly at: number; readonly device: number }
  /** Copy the device's two databases as they are committed at one instant (a backup of both files). */
  | { readonly _tag: "Backup"; readonly at: number; readonly device: number }
  /**
   * The device crashes, both its databases are put back as its latest backup, and it restarts `downMillis`
   * later.
   */
  | { readonly _tag: "Restore"; readonly at: number; readonly device: number; readonly downMillis: number }
  /** The device crashes and restarts `downMillis` later on two new empty databases (same device id). */
  | { readonly _tag: "Replace"; readonly at: number; readonly device: number; readonly downMillis: number }

/**
 * How big a plan is. A full plan draws 2-8 devices, 8-60 actions over 0.3-3 s (what every plan was before
 * light ones); a light plan draws 2-4 devices (mostly two), 8-30 actions over 0.3-1.5 s, and more devices
 * joining late into a backlog, most of them crashing in that first backfill. A seed's cost grows with its
 * devices (each one's starts, connections and streams), so light plans cost a little over half of full ones
 * and explore more schedules per minute; full plans keep the big libraries.
 */
export type Size = "full" | "light"

export interface Plan {
  readonly seed: number
  readonly size: Size
  readonly devices: ReadonlyArray<DevicePlan>
  readonly batchSize: number
  readonly logRetention: number
  readonly actions: ReadonlyArray<Action>
  /** When the chaos ends and healing begins. */
  readonly chaosMillis: number
}

/** Row slots per kind: few, so rows are written again, deleted and re-created. */
export const OWNED_SLOTS = 3
export const SHARED_SLOTS = 4
/**
 * The owned slots a light plan's backlog fills, per writer and kind: with its one or two writers, three rows
 * would fit in two pages, and a crash could then never leave more than two pages to receive again; nine
 * take more than two pages of the largest size (4).
 */
export const LIGHT_BACKLOG_SLOTS = 9

const hex = (n: number, width: number) => (n >>> 0).toString(16).padStart(width, "0").slice(-width)

/**
 * The uuid of a row slot: owned slots belong to one device, shared slots to everyone. It begins with eight
 * hex digits drawn from the slot, as a random uuid would: uuids that share a long prefix make every
 * reconciliation narrow through one level of ranges per shared character (17 fingerprints each), many
 * times the work real uuids cause. The rest names the kind, the owner and the slot, for traces.
 */
export const slotUuid = (kind: string, device: number, slot: number): string => {
  const k = SimCatalog.names.indexOf(kind)
  const owner = SimCatalog.isShared(kind) ? 0xff : device
  const spread = Math.floor(new Prng(((k * 256 + owner) * 4096 + slot) ^ 0x5eed).next() * 0x1_0000_0000)
  return `${hex(spread, 8)}-${hex(k, 4)}-4000-8000-${hex(owner, 4)}${hex(slot, 8)}`
}

const skewWithin = (rng: Prng) => rng.int(-SKEW_WITHIN, SKEW_WITHIN)
const skewBeyond = (rng: Prng) =>
  (rng.chance(0.5) ? 1 : -1) * rng.int(MAX_DRIFT_MILLIS + 500, 2 * MAX_DRIFT_MILLIS)

const faults = (rng: Prng): Faults => ({
  dropRate: rng.chance(0.5) ? 0 : rng.next() * 0.15,
  duplicateRate: rng.chance(0.5) ? 0 : rng.next() * 0.3,
  maxDelayMillis: rng.chance(0.3) ? 0 : rng.int(1, 30),
  cutAfterMessages: rng.chance(0.7) ? undefined : rng.int(10, 200),
  timeoutMillis: 50
})

/**
 * Where a crash strikes: at once, or before the n-th next statement (of a kind, or of any kind), or just
 * after the n-th next `COMMIT` (between that transaction and whatever the device writes next).
 */
const crashPoint = (rng: Prng): { afterStatements: number | null; statementLike: string; after: boolean } => {
  if (rng.chance(0.25)) return { afterStatements: null, statementLike: "", after: false }
  const [statementLike, after] = rng.weighted([
    [["", false], 40],
    [["COMMIT", false], 15],
    [["COMMIT", true], 15],
    [["backfill_checkpoints", false], 10],
    [["device_resource_watermarks", false], 10],
    [["shared_changes", false], 10]
  ] as const)
  return { afterStatements: statementLike === "" ? rng.int(1, 80) : rng.int(1, 6), statementLike, after }
}

/** What a plan may draw beyond the defaults. */
export interface PlanOptions {
  /**
   * Backups and restores of a device's databases (default true; `npm run simulate -- --no-restores` leaves
   * them out, to tell a failure that needs a restore from one that does not). Replacements by new empty
   * databases stay either way.
   */
  readonly restores?: boolean
  /**
   * The plan's size instead of the one the seed draws: a seed kept for what its full plan found replays it
   * with `"full"` (test/SimulationRegressions.test.ts).
   */
  readonly size?: Size
}

/** The salt of the generator of a plan's size. */
const SIZE_SALT = 0x517e5

/** The share of seeds whose plan is full. */
export const FULL_SHARE = 0.2

/**
 * The size seed `seed` draws, from a generator of its own: a full plan is drawn exactly as every plan was
 * before light ones existed, so a full seed's run is what it was.
 */
export const sizeOf = (seed: number): Size =>
  new Prng((seed ^ SIZE_SALT) >>> 0).chance(FULL_SHARE) ? "full" : "light"

/** The plan of seed `seed`. */
export const make = (seed: number, options?: PlanOptions): Plan => {
  const size = options?.size ?? sizeOf(seed)
  const light = size === "light"
  const rng = new Prng(seed)
  const count = rng.weighted(
    light
      ? ([
          [2, 60],
          [3, 30],
          [4, 10]
        ] as const)
      : ([
          [2, 30],
          [3, 30],
          [4, 20],
          [5, 10],
          [6, 5],
          [8, 5]
        ] as const)
  )
  const chaosMillis = light ? rng.int(300, 1_500) : rng.int(300, 3_000)
  const devices: Array<DevicePlan> = []
  for (let i = 0; i < count; i++) {
    const others = Array.from({ length: count }, (_, j) => j).filter((j) => j !== i)
    // Every device after the first pulls from the first (which never leaves), so the devices stay connected
    // whoever leaves; which others it pulls from is chance.
    const peers =
      i === 0 ? others.filter(() => rng.chance(0.3)) : others.filter((j) => j < i && rng.chance(0.5))
    if (i > 0 && !peers.includes(0)) peers.push(0)
    devices.push({
      index: i,
      id: DeviceId.make(`${hex(rng.int(0, 0xffffffff), 8)}-${hex(i, 4)}-4000-8000-${hex(seed, 12)}`),
      // A light plan's devices join late twice as often: a first backfill with a crash in it is where the
      // cursor bugs show, and it costs little more than joining at once.
      joinAt: i > 0 && rng.chance(light ? 0.5 : 0.25) ? rng.int(1, chaosMillis) : 0,
      skew: rng.chance(0.15) ? skewBeyond(rng) : skewWithin(rng),
      peers: [...new Set(peers)].sort((a, b) => a - b)
    })
  }
  const actions: Array<Action> = []
  const steps = light ? rng.int(8, 30) : rng.int(8, 60)
  const kinds = SimCatalog.names
  for (let s = 0; s < steps; s++) {
    const at = rng.int(0, chaosMillis)
    const device = rng.int(0, count - 1)
    const kind = rng.pick(kinds)
    const slot = rng.int(0, (SimCatalog.isShared(kind) ? SHARED_SLOTS : OWNED_SLOTS) - 1)
    const tag = rng.weighted([
      ["Write", 55],
      ["Remove", 12],
      ["Crash", 12],
      ["Partition", 4],
      ["Heal", 4],
      ["Faults", 5],
      ["Skew", 5],
      ["Leave", 1]
    ] as const)
    switch (tag) {
      case "Write":
      case "Remove":
        actions.push({ _tag: tag, at, device, kind, slot })
        break
      case "Crash":
        actions.push({
          _tag: "Crash",
          at,
          device,
          ...crashPoint(rng),
          downMillis: rng.int(0, 400)
        })
        break
      case "Partition": {
        const side = devices.map(() => rng.chance(0.5))
        actions.push({
          _tag: "Partition",
          at,
          groups: [
            devices.filter((_, i) => side[i]).map((d) => d.index),
            devices.filter((_, i) => !side[i]).map((d) => d.index)
          ]
        })
        break
      }
      case "Heal":
        actions.push({ _tag: "Heal", at })
        break
      case "Faults":
        actions.push({ _tag: "Faults", at, faults: faults(rng) })
        break
      case "Skew":
        actions.push({ _tag: "Skew", at, device, skew: rng.chance(0.3) ? skewBeyond(rng) : skewWithin(rng) })
        break
      case "Leave":
        // The first device never leaves: every other device pulls from it.
        if (device > 0) actions.push({ _tag: "Leave", at, device })
        break
    }
  }
  const batchSize = rng.int(1, 4)
  const logRetention = rng.chance(0.5) ? rng.int(2, 12) : 1_000
  // Half the devices that join late crash during their first backfill: a crash armed just before the join
  // strikes the new incarnation, most often just after one of its first commits (between a page's apply
  // and its progress record, or between that record and whatever the device writes next).
  for (const d of devices) {
    if (d.joinAt === 0 || !rng.chance(light ? 0.75 : 0.5)) continue
    const [statementLike, after] = rng.weighted([
      [["COMMIT", true], 50],
      [["COMMIT", false], 25],
      [["", false], 25]
    ] as const)
    actions.push({
      _tag: "Crash",
      at: d.joinAt - 1,
      device: d.index,
      afterStatements: statementLike === "" ? rng.int(1, 120) : rng.int(1, 24),
      statementLike,
      after,
      downMillis: rng.int(0, 400)
    })
  }
  // Half the devices that join late meet a backlog: before they join, devices there from the start write
  // every owned slot of one kind, so the joiner's first backfill of that kind takes several pages. In a light
  // plan every late joiner meets one, of both owned kinds, written by every device there from the start: its
  // few devices write little else, and a backfill of two kinds is what a cursor shared between kinds breaks.
  for (const d of devices) {
    if (d.joinAt < 2 || !rng.chance(light ? 1 : 0.5)) continue
    const owned = kinds.filter((k) => !SimCatalog.isShared(k))
    const backlog = light ? owned : [rng.pick(owned)]
    for (const writer of devices.filter((w) => w.joinAt === 0 && rng.chance(light ? 1 : 0.7)))
      for (const kind of backlog)
        for (let slot = 0; slot < (light ? LIGHT_BACKLOG_SLOTS : OWNED_SLOTS); slot++)
          actions.push({ _tag: "Write", at: rng.int(0, d.joinAt - 2), device: writer.index, kind, slot })
  }
  actions.push(...swaps(seed, devices, chaosMillis, options?.restores ?? true))
  // Stable: actions at one instant keep the order they were drawn in.
  actions.sort((a, b) => a.at - b.at)
  return { seed, size, devices, batchSize, logRetention, actions, chaosMillis }
}

/** The salt of the generator of backups, restores and replacements. */
const SWAPS_SALT = 0x7e570e

/**
 * Backups, restores and replacements of a device's databases, in two of five seeds. They come from a
 * generator of their own, drawn after everything else, so that every other draw of a seed (and the whole
 * plan of a seed without them) is what it was before they existed. A restore always follows a backup of
 * its device, taken once the device has joined.
 */
const swaps = (
  seed: number,
  devices: ReadonlyArray<DevicePlan>,
  chaosMillis: number,
  restores: boolean
): Array<Action> => {
  const rng = new Prng((seed ^ SWAPS_SALT) >>> 0)
  if (!rng.chance(0.4)) return []
  const actions: Array<Action> = []
  const episodes = rng.int(1, 2)
  for (let e = 0; e < episodes; e++) {
    const device = rng.pick(devices)
    const downMillis = rng.int(0, 400)
    if (device.joinAt >= chaosMillis) continue
    if (rng.chance(0.65)) {
      const backupAt = rng.int(device.joinAt, chaosMillis - 1)
      const restoreAt = rng.int(backupAt + 1, chaosMillis)
      // Drawn either way, so that leaving restores out changes nothing else of the plan.
      if (!restores) continue
      actions.push({ _tag: "Backup", at: backupAt, device: device.index })
      actions.push({ _tag: "Restore", at: restoreAt, device: device.index, downMillis })
    } else {
      actions.push({
        _tag: "Replace",
        at: rng.int(device.joinAt, chaosMillis),
        device: device.index,
        downMillis
      })
    }
  }
  return actions
}
