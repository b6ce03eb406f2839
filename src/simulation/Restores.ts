// Devices whose two databases are restored from a backup or replaced by new empty ones, and what the oracle
// may then still expect. A restore or a replacement legitimately loses what only that device held; its
// peers' cursors for it describe a database that is gone until they notice; and the device itself goes
// back. Keeps the oracle sound without letting it look away from anything else: every acknowledged write
// some other device held at the instant still counts, and a pair (device, peer) is judged again as soon as
// the device starts over with that peer.
import type { Held, Written } from "./Oracle.js"

/** A device's two databases as committed at one instant of simulated time. */
export interface Backup {
  readonly library: Buffer
  readonly sync: Buffer
  readonly at: number
  /** The peers whose cursors the device held from an older database of theirs, at the backup. */
  readonly stale: ReadonlySet<string>
}

/** Whether `device` holds `w`'s row at least as new as `w` (committed rows only: mid-transaction, no). */
const holds = (device: Held, w: Written & { readonly version: string }): boolean => {
  let rows: ReadonlyArray<{ version: string | null }> | undefined
  try {
    rows = device.library.read(`SELECT max(version) AS version FROM "${w.kind}" WHERE uuid = ?`, [w.uuid])
  } catch {
    // No such table: a new empty database, or one whose schema a crash left unfinished.
    return false
  }
  const version = rows?.[0]?.version
  return version !== undefined && version !== null && version >= w.version
}

/**
 * The bookkeeping of backups and swaps (restores and replacements) of one run, by device name. A device's
 * cursors for a peer (watermarks, checkpoints, and what its streams were sent) are *stale* from the peer's
 * swap until the device next tells the peer it holds nothing of it (an `Exchange` with every position 0:
 * the first exchange of a device that never pulled from it, or the second one after the device noticed the
 * peer's new or older database and forgot its positions). Stale cursors are not judged: they count the
 * peer's rows of a database that is gone, which the product only finds out at its next exchange. Whatever
 * they cost shows anyway at the end, where every device must hold the same rows.
 */
export class Swaps {
  private readonly stale = new Set<string>()
  private readonly swappedAt = new Map<string, number>()
  private readonly backups = new Map<string, Backup>()
  /**
   * Per write (by its index in the run's list), the devices that held it at each swap where nothing else
   * did: it stays acknowledged only while one of each such set stays in the library.
   */
  private readonly rescuers = new Map<number, Array<ReadonlyArray<string>>>()

  /** Whether `device`'s cursors for `peer` describe the peer's database as it is (not one since swapped). */
  judges(device: string, peer: string): boolean {
    return !this.stale.has(`${device}|${peer}`)
  }

  /**
   * `device` sent `peer` a session's Exchange; `holdsNothing` when every position in it was 0. Returns
   * whether that ended a stale pair (then what the device's streams were sent by the peer before is void).
   */
  exchanged(device: string, peer: string, holdsNothing: boolean): boolean {
    return holdsNothing && this.stale.delete(`${device}|${peer}`)
  }

  private staleOf(device: string): Set<string> {
    const peers = new Set<string>()
    for (const pair of this.stale) {
      const [d, p] = pair.split("|")
      if (d === device) peers.add(p!)
    }
    return peers
  }

  /** Keep `device`'s backup taken at `at`. */
  backup(device: string, library: Buffer, sync: Buffer, at: number): void {
    this.backups.set(device, { library, sync, at, stale: this.staleOf(device) })
  }

  latestBackup(device: string): Backup | undefined {
    return this.backups.get(device)
  }

  /**
   * `device`'s databases were just put back as `backup`, or replaced by new empty ones (no backup), at
   * `at`. Every other device's cursors for it are stale now. Its own are as stale as they were at the
   * backup, and for every peer swapped since (a replaced device has no cursors at all).
   */
  swapped(device: string, others: ReadonlyArray<string>, at: number, backup: Backup | undefined): void {
    for (const peer of this.staleOf(device)) this.stale.delete(`${device}|${peer}`)
    if (backup !== undefined) {
      for (const peer of backup.stale) this.stale.add(`${device}|${peer}`)
      for (const [peer, when] of this.swappedAt)
        if (when > backup.at && peer !== device) this.stale.add(`${device}|${peer}`)
    }
    for (const other of others) this.stale.add(`${other}|${device}`)
    this.swappedAt.set(device, at)
  }

  /**
   * After a swap: the acknowledged writes (indexes into `writes`) no device of `present` (the swapped one
   * included, as it is now) holds at least as new. They were lost with the swapped device's newer copy, or
   * are still in flight to a device that pulled them before the swap: in doubt either way. The others
   * remember which devices held them (a device that later leaves may take the write with it).
   */
  inDoubtAfterSwap(writes: ReadonlyArray<Written>, present: ReadonlyArray<Held>): Array<number> {
    const lost: Array<number> = []
    writes.forEach((w, i) => {
      if (w.version === undefined) return
      const holders = present.filter((d) => holds(d, w as Written & { version: string })).map((d) => d.name)
      if (holders.length === 0) lost.push(i)
      else this.rescuers.set(i, [...(this.rescuers.get(i) ?? []), holders])
    })
    return lost
  }

  /** Whether write `i` now rests on devices that all left: then it is in doubt too. */
  restsOnLeavers(i: number, left: (device: string) => boolean): boolean {
    return (this.rescuers.get(i) ?? []).some((holders) => holders.every(left))
  }
}
