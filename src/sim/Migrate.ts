/**
 * Guest migration between the simulated nodes, in the two steps a test can act between. PVE's
 * migration worker (pve-guest-common `PVE::AbstractMigrate::migrate`, run by qemu-server
 * `PVE::QemuMigrate` and pve-container `PVE::LXC::Migrate`) does, in order:
 *
 * - begin: takes the guest's config flock for its whole run (`lock_vm` is `lock_config`),
 *   `check_lock`s the config (`prepare`), shuts a running container down (containers only
 *   migrate in restart mode), then `phase1` writes `lock: migrate`. A running VM keeps running:
 *   online migration starts its new QEMU process on the target in `phase2`.
 * - finish: `move_config_to_node` renames the config to nodes/TARGET (from then on the source
 *   answers "does not exist"), `qm unlock` / `pct unlock` on the target clears the lock, a
 *   restarted container is started there, and the worker ends, freeing the flock.
 *
 * The worker is a `qmigrate` / `vzmigrate` task on the source node run by root@pam.
 * Invariant: at most one migration per guest; while it runs the guest carries `lock: migrate`
 * and its config flock is held.
 */
import { Either } from "effect"
import { boot, startGuest, stopGuest } from "./api/PowerTasks.js"
import type { SimCluster } from "./Cluster.js"
import { lockTimeoutText } from "./Flock.js"
import { type GuestKind, noun, touched } from "./GuestState.js"
import type { TaskOutcome } from "./Tasks.js"

export interface SimMigration {
  readonly vmid: number
  readonly type: GuestKind
  readonly from: string
  readonly to: string
  /** The `qmigrate` / `vzmigrate` task on the source node. */
  readonly upid: string
  /** A container that was running: shut down at begin, started on the target at finish. */
  readonly restart: boolean
}

export interface FinishOptions {
  /**
   * Leave `lock: migrate` on the moved config, as when the target's `qm unlock` / `pct unlock`
   * fails: the worker then ends with "migration problems" and a restarted container stays
   * down. The control API's DELETE /guests/N/lock is the operator's `qm unlock` afterwards.
   */
  readonly keepLock?: boolean
}

interface InFlight extends SimMigration {
  readonly startedAt: number
  readonly release: () => void
  readonly end: (outcome: TaskOutcome) => void
}

const duration = (ms: number): string => {
  const s = Math.floor(ms / 1000)
  const pad = (n: number) => String(n).padStart(2, "0")
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`
}

const publicView = ({ vmid, type, from, to, upid, restart }: InFlight): SimMigration => ({
  vmid,
  type,
  from,
  to,
  upid,
  restart
})

export class Migrations {
  private readonly inFlight = new Map<number, InFlight>()

  constructor(private readonly cluster: SimCluster) {}

  get active(): ReadonlyArray<SimMigration> {
    return [...this.inFlight.values()].map(publicView)
  }

  /**
   * Refusals reuse PVE's texts where it has one (pve-cluster `PVE::Cluster::check_node_exists`,
   * qemu-server `PVE::API2::Qemu` `migrate_vm`, pve-guest-common `PVE::AbstractConfig::check_lock`).
   */
  begin(vmid: number, target: string): Either.Either<SimMigration, string> {
    const cluster = this.cluster
    const g = cluster.guests.get(vmid)
    if (g === undefined) return Either.left(`no guest ${vmid}`)
    if (!cluster.nodes.includes(target)) return Either.left(`no such cluster node '${target}'`)
    if (g.node === target) {
      return Either.left(`guest ${vmid} is already on node '${target}' (PVE: "target is local node.")`)
    }
    const lock = g.config.get("lock")
    if (lock !== undefined) return Either.left(`guest ${vmid}: ${noun(g.kind)} is locked (${lock})`)
    const release = cluster.tasks.flocks.tryAcquire(vmid)
    // PVE's worker would wait up to 10 s for the flock; a test wants an answer now.
    if (release === undefined) {
      return Either.left(`guest ${vmid}: ${lockTimeoutText(g.kind, vmid)} (a running task holds the config flock)`)
    }
    const from = g.node
    const restart = g.kind === "lxc" && g.running
    const log = [
      ...(restart ? [`shutdown CT ${vmid}`] : []),
      `starting migration of ${noun(g.kind)} ${vmid} to node '${target}' (${cluster.nodeIp})`,
      ...(g.kind === "qemu" && g.running ? [`starting VM ${vmid} on remote node '${target}'`] : [])
    ]
    const { task, end } = cluster.tasks.open(
      from,
      g.kind === "qemu" ? "qmigrate" : "vzmigrate",
      String(vmid),
      "root@pam",
      log
    )
    if (restart) stopGuest(g)
    g.config.set("lock", "migrate")
    touched(g)
    const flight: InFlight = {
      vmid,
      type: g.kind,
      from,
      to: target,
      upid: task.upid,
      restart,
      startedAt: Date.now(),
      release,
      end
    }
    this.inFlight.set(vmid, flight)
    cluster.record(g, "migrate-begin", { target, ...(restart ? { restart: 1 } : {}) }, "root@pam", task.upid)
    return Either.right(publicView(flight))
  }

  finish(vmid: number, options: FinishOptions = {}): Either.Either<SimMigration, string> {
    const flight = this.inFlight.get(vmid)
    const g = this.cluster.guests.get(vmid)
    if (flight === undefined || g === undefined) return Either.left(`no migration of guest ${vmid} in progress`)
    this.inFlight.delete(vmid)
    const keepLock = options.keepLock === true
    g.node = flight.to
    if (!keepLock) g.config.delete("lock")
    touched(g)
    // The VM now runs in the QEMU process started on the target in phase2: new pid, uptime from
    // then. A paused VM stays paused (qemu-server `PVE::QemuMigrate` `vm_was_paused`).
    if (g.kind === "qemu" && g.running) {
      const runState = g.runState
      boot(this.cluster, g)
      g.runState = runState
      g.startedAt = flight.startedAt
    }
    if (flight.restart && !keepLock) startGuest(this.cluster, g)
    const params = {
      from: flight.from,
      to: flight.to,
      ...(keepLock ? { keepLock: 1 } : {}),
      ...(flight.restart && !keepLock ? { restart: 1 } : {})
    }
    this.cluster.record(g, "migrate-finish", params, "root@pam", flight.upid)
    flight.release()
    const took = duration(Date.now() - flight.startedAt)
    const restartLog = flight.restart ? ["start container on target node"] : []
    // With the lock left behind, `pct start` on the target refuses too (pve-container
    // `PVE::LXC::Migrate::final_cleanup`), so a restarted container stays down.
    flight.end(
      keepLock
        ? {
          error: "migration problems",
          log: [
            "ERROR: failed to clear migrate lock",
            ...restartLog,
            ...(flight.restart ? ["ERROR: CT is locked (migrate)"] : []),
            `ERROR: migration finished with problems (duration ${took})`
          ]
        }
        : { log: [...restartLog, `migration finished successfully (duration ${took})`] }
    )
    return Either.right(publicView(flight))
  }

  /**
   * Begin, then finish at once (`afterMs` 0) or after `afterMs` on the task engine's clock,
   * unless the test finished this migration itself meanwhile.
   */
  migrate(vmid: number, target: string, afterMs = 0): Either.Either<SimMigration, string> {
    return Either.flatMap(this.begin(vmid, target), (m) => {
      if (afterMs <= 0) return this.finish(vmid)
      this.cluster.tasks.later(afterMs, () => {
        if (this.inFlight.get(vmid)?.upid === m.upid) this.finish(vmid)
      })
      return Either.right(m)
    })
  }

  /** Forgets every migration (simulator reset: the flocks and tasks go with the task engine). */
  clear(): void {
    this.inFlight.clear()
  }
}
