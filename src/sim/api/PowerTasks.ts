/**
 * The workers behind the power actions (suspend/resume in Suspend.ts). Each
 * runs inside the guest's config flock for its whole run, as PVE's do (qemu-server
 * `PVE::QemuServer::vm_start` / `vm_stop` / `vm_reboot`, pve-container `PVE::API2::LXC::Status`
 * workers): the checks run when the worker starts (`begin`), the guest changes when it ends
 * (`finish`).
 */
import type { SimCluster } from "../Cluster.js"
import { type GuestKind, type GuestState, touched } from "../GuestState.js"
import { appliedLxcMountPoint } from "../PropertyString.js"
import type { TaskBody, TaskRecord } from "../Tasks.js"
import { findGuest, isTemplate, lockError, notExistText } from "./Context.js"

/** One power request after the API's synchronous part: who, which guest, which parameters. */
export interface PowerCall {
  readonly cluster: SimCluster
  readonly user: string
  readonly kind: GuestKind
  readonly node: string
  readonly vmid: number
  /** Checked parameters without node and vmid. */
  readonly params: Readonly<Record<string, string>>
  /** Started by the HA resource agent (PVE rpcenv type `ha`): never redirected to ha-manager. */
  readonly byHa?: boolean
}

export const findCall = (c: PowerCall): GuestState | undefined => findGuest(c.cluster, c.node, c.kind, c.vmid)

/** qemu-server `PVE::QemuConfig::assert_config_exists_on_node`, reached through `check_running`. */
export const missingOnNode = (c: PowerCall): string =>
  `unable to find configuration file for VM ${c.vmid} on node '${c.node}'`

/** Perl truthiness of a parameter value: absent, "" and "0" are false. */
export const truthy = (v: string | undefined): boolean => v !== undefined && v !== "" && v !== "0"

export const applyPending = (g: GuestState): boolean => {
  if (g.pending.size === 0 && g.pendingDelete.size === 0) return false
  // pve-container `vmconfig_apply_pending` re-prints a mount point as it applies it.
  for (const [k, v] of g.pending) g.config.set(k, g.kind === "lxc" ? appliedLxcMountPoint(k, v) : v)
  for (const k of g.pendingDelete.keys()) g.config.delete(k)
  g.pending.clear()
  g.pendingDelete.clear()
  touched(g)
  return true
}

export const boot = (cluster: SimCluster, g: GuestState): void => {
  g.running = true
  g.runState = "running"
  g.startedAt = Date.now()
  g.pid = 1000 + cluster.prng.int(4_000_000)
}

/** A normal start: pending changes are applied first (qemu-server `vm_start_nolock`, pve-container `PVE::LXC::vm_start`). */
export const startGuest = (cluster: SimCluster, g: GuestState): void => {
  applyPending(g)
  boot(cluster, g)
}

export const stopGuest = (g: GuestState): void => {
  g.running = false
  g.runState = "running"
  g.pid = 0
}

/** Keys a suspend-to-disk writes (qemu-server `PVE::QemuConfig::__snapshot_save_vmstate`). */
export const HIBERNATION_KEYS = ["vmstate", "runningmachine", "runningcpu", "running-nets-host-mtu"]

/** Resume from hibernation: no pending applied; lock and saved-state keys dropped (`vm_start_nolock` with `resume`). */
const resumeHibernated = (cluster: SimCluster, g: GuestState): void => {
  g.config.delete("lock")
  for (const k of HIBERNATION_KEYS) g.config.delete(k)
  touched(g)
  boot(cluster, g)
}

export const spawn = (c: PowerCall, type: string, body: Omit<TaskBody, "flock">): TaskRecord =>
  c.cluster.tasks.spawn(c.node, type, String(c.vmid), c.user, {
    flock: { vmid: c.vmid, kind: c.kind, hold: "task" },
    // PVE::RESTEnvironment::fork_worker prints this first for workers of the HA environment.
    ...(c.byHa === true ? { log: ["task started by HA resource agent"] } : {}),
    ...body
  })

export const record = (c: PowerCall, g: GuestState, kind: string, task: TaskRecord): void =>
  c.cluster.record(g, kind, c.params, c.user, task.upid)

/** `check_lock` unless skipped; lxc also lets lock `mounted` pass where PVE does. */
export const lockUnless = (g: GuestState, skip: boolean): string | undefined => (skip ? undefined : lockError(g))

/**
 * qemu start (qemu-server `PVE::QemuServer::vm_start`): template, then a running VM locked
 * `backup` is only resumed, then the lock (a `suspended` lock lets the start through: it
 * resumes from hibernation), then "already running".
 */
export const qemuStart = (c: PowerCall, type = "qmstart"): TaskRecord => {
  let mode: "start" | "resume" | "hibernated" = "start"
  const task = spawn(c, type, {
    begin: () => {
      const g = findCall(c)
      if (g === undefined) return notExistText(c.kind, c.node, c.vmid)
      if (isTemplate(g)) return "you can't start a vm if it's a template"
      const lock = g.config.get("lock")
      if (lock === "backup" && g.running) {
        mode = "resume"
        return undefined
      }
      const locked = lockUnless(g, truthy(c.params["skiplock"]) || lock === "suspended")
      if (locked !== undefined) return locked
      if (g.running) return `VM ${c.vmid} already running`
      mode = lock === "suspended" || g.config.has("vmstate") ? "hibernated" : "start"
      return undefined
    },
    finish: () => {
      const g = findCall(c)
      if (g === undefined) return { error: notExistText(c.kind, c.node, c.vmid) }
      if (mode === "resume") {
        if (g.runState === "running") return {}
        g.runState = "running"
        record(c, g, "resume", task)
        return {}
      }
      if (mode === "hibernated") resumeHibernated(c.cluster, g)
      else startGuest(c.cluster, g)
      record(c, g, "start", task)
      return {}
    }
  })
  return task
}

/**
 * qemu stop/shutdown (qemu-server `PVE::QemuServer::_do_vm_stop`): the config must be on this
 * node; a VM that does not run is done at once (task OK, lock not checked); then the lock.
 * The simulated guest always goes down within the timeout.
 */
export const qemuStop = (c: PowerCall, action: "stop" | "shutdown"): TaskRecord => {
  let idle = false
  const task = spawn(c, action === "stop" ? "qmstop" : "qmshutdown", {
    begin: () => {
      const g = findCall(c)
      if (g === undefined) return missingOnNode(c)
      if (!g.running) {
        idle = true
        return undefined
      }
      return lockUnless(g, truthy(c.params["skiplock"]))
    },
    finish: () => {
      const g = findCall(c)
      if (idle) return {}
      if (g === undefined) return { error: missingOnNode(c) }
      stopGuest(g)
      record(c, g, action, task)
      return {}
    }
  })
  return task
}

/**
 * qemu reboot (qemu-server `PVE::QemuServer::vm_reboot`): nothing when not running, else a
 * shutdown with a reboot request (lock always checked), after which qmeventd starts the VM
 * again and pending changes apply. The simulator does the restart at the task's end.
 */
export const qemuReboot = (c: PowerCall): TaskRecord => {
  let idle = false
  const task = spawn(c, "qmreboot", {
    begin: () => {
      const g = findCall(c)
      if (g === undefined) return missingOnNode(c)
      if (!g.running) {
        idle = true
        return undefined
      }
      return lockError(g)
    },
    finish: () => {
      const g = findCall(c)
      if (idle) return {}
      if (g === undefined) return { error: missingOnNode(c) }
      startGuest(c.cluster, g)
      record(c, g, "reboot", task)
      return {}
    }
  })
  return task
}

/** lxc `check_lock` as the start/stop workers apply it: skiplock or lock `mounted` pass. */
const lxcLock = (g: GuestState, skiplock: boolean): string | undefined =>
  lockUnless(g, skiplock || g.config.get("lock") === "mounted")

/** lxc start (pve-container `PVE::API2::LXC::Status` vm_start worker). */
export const lxcStart = (c: PowerCall): TaskRecord => {
  const task = spawn(c, "vzstart", {
    begin: () => {
      const g = findCall(c)
      if (g === undefined) return notExistText(c.kind, c.node, c.vmid)
      if (isTemplate(g)) return "you can't start a CT if it's a template"
      return lxcLock(g, truthy(c.params["skiplock"]))
    },
    finish: () => {
      const g = findCall(c)
      if (g === undefined) return { error: notExistText(c.kind, c.node, c.vmid) }
      startGuest(c.cluster, g)
      record(c, g, "start", task)
      return {}
    }
  })
  return task
}

/** lxc stop/shutdown workers: stop honours skiplock and `mounted`, shutdown checks the lock plainly. */
export const lxcStop = (c: PowerCall, action: "stop" | "shutdown"): TaskRecord => {
  const task = spawn(c, action === "stop" ? "vzstop" : "vzshutdown", {
    begin: () => {
      const g = findCall(c)
      if (g === undefined) return notExistText(c.kind, c.node, c.vmid)
      return action === "stop" ? lxcLock(g, truthy(c.params["skiplock"])) : lockError(g)
    },
    finish: () => {
      const g = findCall(c)
      if (g === undefined) return { error: notExistText(c.kind, c.node, c.vmid) }
      if (!g.running) return {}
      stopGuest(g)
      record(c, g, action, task)
      return {}
    }
  })
  return task
}

/**
 * lxc reboot (pve-container `PVE::LXC::vm_reboot`): stop, then `PVE::LXC::vm_start` (pending
 * applied) — no lock check of its own; a config lock makes the container's pre-start hook
 * refuse, so a locked container ends up stopped and the start command fails.
 */
export const lxcReboot = (c: PowerCall): TaskRecord => {
  const task = spawn(c, "vzreboot", {
    finish: () => {
      const g = findCall(c)
      if (g === undefined || !g.running) return {}
      stopGuest(g)
      applyPending(g)
      const lock = g.config.get("lock")
      if (lock !== undefined && lock !== "mounted") {
        record(c, g, "stop", task)
        return { error: `command 'systemctl start pve-container@${c.vmid}' failed: exit code 1` }
      }
      boot(c.cluster, g)
      record(c, g, "reboot", task)
      return {}
    }
  })
  return task
}
