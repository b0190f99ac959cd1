/**
 * pvestatd's stats push (pve-manager `PVE::Service::pvestatd::update_qemu_status`,
 * `PVE::API2Tools::extract_vm_stats`): /cluster/resources takes `status`, `name` and
 * `template` from RRD data that pvestatd broadcasts every ~10 s, so they lag the live state
 * (lock and tags are read live). Simulated without timers: whenever a guest's state changes
 * (every logged mutation, and creation) its stats-relevant values are sampled with a
 * timestamp; a read shows the newest sample taken at or before the last push boundary
 * (`epoch + k·period`). status/current and /nodes/N/{qemu,lxc} stay live.
 */
import { guestName, type GuestState, type RunState } from "./GuestState.js"

export interface StatsSample {
  /** ms epoch of the change this sample records. */
  readonly at: number
  readonly running: boolean
  readonly runState: RunState
  readonly startedAt: number
  readonly name: string
  readonly template: boolean
}

export const sampleOf = (g: GuestState, at: number): StatsSample => ({
  at,
  running: g.running,
  runState: g.runState,
  startedAt: g.startedAt,
  name: guestName(g),
  template: g.config.get("template") === "1"
})

const sameValues = (a: StatsSample, b: StatsSample): boolean =>
  a.running === b.running && a.runState === b.runState && a.startedAt === b.startedAt && a.name === b.name &&
  a.template === b.template

export class StatsPushes {
  private readonly samples = new Map<number, Array<StatsSample>>()

  /** `period` 0 = no lag: every read is fresh and nothing is sampled. */
  constructor(readonly period: number, readonly epoch: number) {}

  get lagging(): boolean {
    return this.period > 0
  }

  /** The last push at or before `now`; undefined when there is no lag. */
  lastPush(now: number): number | undefined {
    if (!this.lagging) return undefined
    return this.epoch + Math.floor((now - this.epoch) / this.period) * this.period
  }

  /** Call after every change of a guest (and once at its creation). */
  note(g: GuestState, at: number): void {
    if (!this.lagging) return
    const list = this.samples.get(g.vmid) ?? []
    const sample = sampleOf(g, at)
    const last = list.at(-1)
    if (last !== undefined && sameValues(last, sample)) return
    list.push(sample)
    this.prune(list, at)
    this.samples.set(g.vmid, list)
  }

  /**
   * What the last push published for a guest: "live" without lag, undefined when no push has
   * happened since the guest appeared (no RRD data yet: status `unknown`).
   */
  published(vmid: number, now: number): StatsSample | "live" | undefined {
    const push = this.lastPush(now)
    if (push === undefined) return "live"
    const list = this.samples.get(vmid)
    if (list === undefined) return undefined
    this.prune(list, now)
    for (let i = list.length - 1; i >= 0; i--) {
      const s = list[i]
      if (s !== undefined && s.at <= push) return s
    }
    return undefined
  }

  /** Drops samples superseded by a newer one that has already been pushed. */
  private prune(list: Array<StatsSample>, now: number): void {
    const push = this.lastPush(now)
    if (push === undefined) return
    let drop = 0
    while (drop + 1 < list.length && (list[drop + 1]?.at ?? Infinity) <= push) drop++
    if (drop > 0) list.splice(0, drop)
  }
}
