/**
 * The per-guest config file lock. Every config-changing path
 * in PVE runs inside pve-guest-common `PVE::AbstractConfig::lock_config`, an exclusive flock
 * on a per-guest lock file taken with a 10 s timeout; a caller that cannot get it in time dies
 * with "can't lock file 'FILE' - got timeout" (pve-common `PVE::Tools::lock_file_full`).
 * Power tasks hold it for their whole run (qemu-server `PVE::QemuServer::vm_start` /
 * `vm_stop`, pve-container `PVE::API2::LXC::Status` vm_start/vm_stop/vm_shutdown), so a
 * config write during a long start or shutdown waits, and fails after the timeout.
 *
 * Invariant: at most one holder per vmid; waiters get the lock in the order they asked, and a
 * waiter whose timeout passed is removed and told so. Acquiring a free lock calls back
 * synchronously, so a task that finds the lock free runs its first step inside `spawn`.
 */
import type { GuestKind } from "./GuestState.js"

/** The lock file PVE names in the timeout error (qemu-server / pve-container `config_file_lock`). */
export const lockFile = (kind: GuestKind, vmid: number): string =>
  kind === "qemu" ? `/var/lock/qemu-server/lock-${vmid}.conf` : `/run/lock/lxc/pve-config-${vmid}.lock`

export const lockTimeoutText = (kind: GuestKind, vmid: number): string =>
  `can't lock file '${lockFile(kind, vmid)}' - got timeout`

interface Waiter {
  readonly granted: (release: () => void) => void
  readonly timedOut: () => void
  readonly timer: NodeJS.Timeout
}

export class ConfigFlocks {
  private readonly held = new Set<number>()
  private readonly queues = new Map<number, Array<Waiter>>()

  constructor(private readonly timeoutMs: () => number) {}

  isHeld(vmid: number): boolean {
    return this.held.has(vmid)
  }

  /**
   * Asks for the lock of `vmid`: `granted(release)` once it is ours (at once when free), or
   * `timedOut()` after the timeout. Exactly one of the two is called.
   */
  acquire(vmid: number, granted: (release: () => void) => void, timedOut: () => void): void {
    if (!this.held.has(vmid)) {
      this.held.add(vmid)
      granted(this.releaser(vmid))
      return
    }
    const queue = this.queues.get(vmid) ?? []
    const waiter: Waiter = {
      granted,
      timedOut,
      timer: setTimeout(() => {
        const q = this.queues.get(vmid) ?? []
        const i = q.indexOf(waiter)
        if (i >= 0) q.splice(i, 1)
        timedOut()
      }, this.timeoutMs())
    }
    queue.push(waiter)
    this.queues.set(vmid, queue)
  }

  /** The lock at once if it is free, else undefined (nothing queued). */
  tryAcquire(vmid: number): (() => void) | undefined {
    if (this.held.has(vmid)) return undefined
    this.held.add(vmid)
    return this.releaser(vmid)
  }

  /** `acquire` as a promise: the release function, or undefined on timeout. */
  acquirePromise(vmid: number): Promise<(() => void) | undefined> {
    return new Promise((resolve) => this.acquire(vmid, resolve, () => resolve(undefined)))
  }

  private releaser(vmid: number): () => void {
    let done = false
    return () => {
      if (done) return
      done = true
      const next = this.queues.get(vmid)?.shift()
      if (next === undefined) {
        this.held.delete(vmid)
        return
      }
      clearTimeout(next.timer)
      next.granted(this.releaser(vmid))
    }
  }

  /** Drops every holder; waiters are told they timed out (simulator reset/stop). */
  dispose(): void {
    const waiters = [...this.queues.values()].flat()
    this.queues.clear()
    this.held.clear()
    for (const w of waiters) {
      clearTimeout(w.timer)
      w.timedOut()
    }
  }
}
