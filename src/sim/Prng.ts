/**
 * The simulator's single source of randomness (MACs, list order, fault dice, pids), so a run
 * is reproducible under a seed. mulberry32: tiny, fast, good enough for simulation.
 */
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

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  /** True with probability p (the fault-injection dice). */
  chance(p: number): boolean {
    return p > 0 && this.next() < p
  }

  /** Uppercase hex of `bytes` random bytes. */
  hex(bytes: number): string {
    let s = ""
    for (let i = 0; i < bytes; i++) s += this.int(256).toString(16).toUpperCase().padStart(2, "0")
    return s
  }

  /** A v4-shaped UUID (lowercase), for vmgenid/smbios1. */
  uuid(): string {
    const h = this.hex(16).toLowerCase()
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`
  }

  /** Fisher-Yates shuffle of a copy: PVE lists built from Perl hashes come in random order. */
  shuffle<A>(items: ReadonlyArray<A>): Array<A> {
    const out = items.slice()
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const a = out[i] as A
      out[i] = out[j] as A
      out[j] = a
    }
    return out
  }
}
