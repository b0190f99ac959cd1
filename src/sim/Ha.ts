/**
 * HA-managed guests (the HA branch of qemu-server `PVE::API2::Qemu::vm_start` / `vm_stop` /
 * `vm_shutdown`, and of pve-container `PVE::API2::LXC::Status`). For a guest under HA, the
 * start/stop/shutdown APIs do
 * not touch the guest: they fork an `hastart`/`hastop` task that only records a request
 * (`ha-manager set SID --state started`, `ha-manager crm-command stop SID TIMEOUT`) and ends.
 * The cluster resource manager picks the request up on its next round and the local resource
 * manager then runs the real power task as `root@pam` (pve-ha-manager `PVE::HA::Manager`
 * `next_state_stopped` / `next_state_request_start` / `next_state_started` /
 * `next_state_request_stop`, `PVE::HA::Resources::PVEVM` start/shutdown).
 *
 * Simulated with one timer per round (`haRound` ms): a start request goes stopped →
 * request_start (round 1) → started (round 2) and the LRM's start task; a stop request goes
 * started → request_stop with the resource's requested state set to `stopped`, then the
 * LRM's stop (timeout 0) or shutdown (timeout > 0, forceStop) task, and `stopped` once that
 * task succeeds. A failing LRM task puts the service in `error` (PVE would first retry and
 * relocate per its restart/relocate policy — not simulated).
 */
import type { SimCluster } from "./Cluster.js"
import type { GuestState } from "./GuestState.js"
import type { TaskRecord } from "./Tasks.js"

/** The resource agent's actions: spawn the real power task (or nothing when already there). */
export interface Lrm {
  readonly start: (g: GuestState) => TaskRecord | undefined
  readonly stop: (g: GuestState, timeout: number) => TaskRecord | undefined
}

const succeeded = (t: TaskRecord): boolean => t.exitstatus === "OK" || /^WARNINGS: \d+$/.test(t.exitstatus ?? "")

const round = (cluster: SimCluster, vmid: number, lrm: Lrm): void => {
  const g = cluster.guests.get(vmid)
  const ha = g?.ha
  if (g === undefined || ha === undefined) return
  const stop = ha.stopCommand
  if (stop !== undefined) {
    ha.stopCommand = undefined
    // next_state_started: a stop command moves a started service to request_stop and writes
    // `state: stopped` to its resource config; a stopped service ignores it.
    if (ha.crm !== "started") return
    ha.crm = "request_stop"
    ha.state = "stopped"
    const task = g.running ? lrm.stop(g, stop) : undefined
    if (task === undefined) ha.crm = "stopped"
    else {
      cluster.tasks.whenEnded(task, (t) => {
        ha.crm = succeeded(t) ? "stopped" : "error"
      })
    }
    return
  }
  if (ha.state !== "started") return
  if (ha.crm === "stopped") {
    ha.crm = "request_start"
    scheduleCrm(cluster, vmid, lrm)
  } else if (ha.crm === "request_start") {
    ha.crm = "started"
    const task = g.running ? undefined : lrm.start(g)
    if (task !== undefined) {
      cluster.tasks.whenEnded(task, (t) => {
        if (!succeeded(t)) ha.crm = "error"
      })
    }
  }
}

/** The CRM acts on `vmid` one round from now. */
export const scheduleCrm = (cluster: SimCluster, vmid: number, lrm: Lrm): void =>
  cluster.tasks.later(cluster.settings.haRound ?? 50, () => round(cluster, vmid, lrm))
