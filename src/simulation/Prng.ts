// The simulator's source of choices: a small seeded generator (mulberry32), so that a seed alone fixes the
// plan of a run. The engine's own randomness (backoff jitter, network faults) goes through Effect's Random,
// seeded from the same seed.

/** A seeded generator of the plan's choices. */
export class Prng {
  private state: number

  constructor(seed: number) {
    this.state = seed >>> 0
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1))
  }

  chance(p: number): boolean {
    return this.next() < p
  }

  pick<A>(items: ReadonlyArray<A>): A {
    return items[Math.floor(this.next() * items.length)]!
  }

  /** Pick by weight: `[["write", 50], ["crash", 5]]`. */
  weighted<A>(choices: ReadonlyArray<readonly [A, number]>): A {
    const total = choices.reduce((sum, [, w]) => sum + w, 0)
    let r = this.next() * total
    for (const [choice, w] of choices) {
      r -= w
      if (r < 0) return choice
    }
    return choices[choices.length - 1]![0]
  }
}
