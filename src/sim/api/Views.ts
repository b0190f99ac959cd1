/**
 * How guests look on the wire: config with JSON types, list rows, status/current and
 * /cluster/resources rows (sources at each function). Pure over guest state.
 */
import { readAsNumber } from "../ConfigKeys.js"
import { guestName, type GuestState, haManaged, readDescription, type RunState } from "../GuestState.js"
import { diskSizeBytes, qemuMemoryMiB } from "../PropertyString.js"
import type { StatsSample } from "../Stats.js"

export { guestName } from "../GuestState.js"

const MiB = 1024 * 1024
const HOST_CPUS = 8

/** Values re-parsed from the file: integers/booleans as numbers, the rest strings (`PVE::QemuServer`/`PVE::LXC::Config` `check_type`). */
export const typedConfig = (g: GuestState, values: ReadonlyMap<string, string>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [k, v] of values) out[k] = typedValue(g, k, v)
  return out
}

export const typedValue = (g: GuestState, key: string, v: string): unknown => {
  if (key === "description") return readDescription(g.kind, v)
  if (key === "cipassword") return "**********"
  if (readAsNumber(g.kind, key) && /^-?\d+(\.\d+)?$/.test(v)) return Number(v)
  return v
}

/**
 * Default GET config: pending values override, pending deletes removed (pve-guest-common
 * `PVE::AbstractConfig::load_current_config`).
 */
export const mergedConfig = (g: GuestState): Map<string, string> => {
  const m = new Map(g.config)
  for (const [k, v] of g.pending) m.set(k, v)
  for (const k of g.pendingDelete.keys()) m.delete(k)
  return m
}

const maxmem = (g: GuestState): number =>
  (g.kind === "qemu" ? qemuMemoryMiB(g.config.get("memory")) : Number(g.config.get("memory") ?? "512")) * MiB

const maxdisk = (g: GuestState): number => {
  if (g.kind === "lxc") return diskSizeBytes(g.config.get("rootfs"))
  for (const k of ["scsi0", "virtio0", "sata0", "ide0"]) {
    const size = diskSizeBytes(g.config.get(k))
    if (size > 0) return size
  }
  return 0
}

const cpus = (g: GuestState): number => {
  const c = g.config
  if (g.kind === "qemu") {
    return Number(c.get("vcpus") ?? Number(c.get("sockets") ?? "1") * Number(c.get("cores") ?? "1"))
  }
  return Number(c.get("cores") ?? c.get("cpulimit") ?? HOST_CPUS)
}

const uptime = (g: GuestState): number => (g.running ? Math.max(1, Math.floor((Date.now() - g.startedAt) / 1000)) : 0)

const liveKeys = (g: GuestState, row: Record<string, unknown>): void => {
  const lock = g.config.get("lock")
  if (lock !== undefined) row["lock"] = lock
  const tags = g.config.get("tags")
  if (tags !== undefined) row["tags"] = tags
}

/**
 * A row of GET /nodes/N/qemu or /lxc; qemu has no `type`, lxc pressure values are strings
 * (qemu-server `PVE::QemuServer::vmstatus`, pve-container `PVE::LXC::vmstatus`).
 */
export const listRow = (g: GuestState): Record<string, unknown> => {
  const mem = maxmem(g)
  const row: Record<string, unknown> = {
    vmid: g.vmid,
    status: g.running ? "running" : "stopped",
    name: guestName(g),
    cpus: cpus(g),
    maxmem: mem,
    maxdisk: maxdisk(g),
    disk: 0,
    mem: g.running ? Math.floor(mem * 0.4) : 0,
    uptime: uptime(g),
    cpu: g.running ? 0.01 : 0,
    netin: 0,
    netout: 0,
    diskread: 0,
    diskwrite: 0
  }
  if (g.running) row["pid"] = g.pid
  if (g.config.get("template") === "1") row["template"] = 1
  if (g.kind === "lxc") {
    row["type"] = "lxc"
    row["maxswap"] = Number(g.config.get("swap") ?? "512") * MiB
    row["swap"] = 0
    for (
      const p of [
        "pressurecpusome",
        "pressurecpufull",
        "pressureiosome",
        "pressureiofull",
        "pressurememorysome",
        "pressurememoryfull"
      ]
    ) {
      row[p] = "0.00"
    }
  }
  liveKeys(g, row)
  return row
}

/** qemu's QMP status (`qmpstatus`): the run state while running, else `stopped` (`PVE::QemuServer::vmstatus`). */
export const qmpStatus = (g: GuestState): RunState | "stopped" => (g.running ? g.runState : "stopped")

/**
 * The `ha` object of status/current: pve-ha-manager `PVE::HA::Config::get_service_status`
 * gives `managed` 1 and the CRM service state for a managed resource, `managed` 0 otherwise
 * (an `ignored` resource counts as unmanaged).
 */
const haStatus = (g: GuestState): Record<string, unknown> =>
  g.ha !== undefined && haManaged(g) ? { managed: 1, state: g.ha.crm } : { managed: 0 }

/**
 * GET status/current: the list row plus `ha`, and for qemu `qmpstatus`/`agent` (qemu-server
 * `PVE::API2::Qemu::vm_status`, pve-container `PVE::API2::LXC::Status::vm_status`).
 */
export const statusCurrent = (g: GuestState): Record<string, unknown> => {
  const row = listRow(g)
  row["ha"] = haStatus(g)
  if (g.kind === "qemu") {
    row["qmpstatus"] = qmpStatus(g)
    const agent = g.config.get("agent")
    if (agent !== undefined && /^(1|enabled=1)/.test(agent)) row["agent"] = 1
    row["clipboard"] = null
    if (g.running) {
      row["running-machine"] = "pc-i440fx-9.2+pve1"
      row["running-qemu"] = "9.2.0"
    }
  }
  return row
}

/**
 * A /cluster/resources row (pve-manager `PVE::API2::Cluster::resources`,
 * `PVE::API2Tools::extract_vm_stats`). Stats (name, template, status, usage) only once "RRD data"
 * exists; `pushed` is what pvestatd last broadcast ("live" = no lag), undefined = nothing yet.
 * lock and tags are always live.
 */
export const resourceRow = (
  g: GuestState,
  statsDelay: number,
  now: number,
  pushed: StatsSample | "live" | undefined
): Record<string, unknown> => {
  const stats = now - g.createdAt < statsDelay || pushed === undefined
    ? undefined
    : pushed === "live"
    ? {
      running: g.running,
      runState: g.runState,
      name: guestName(g),
      template: g.config.get("template") === "1",
      uptime: uptime(g)
    }
    : {
      running: pushed.running,
      runState: pushed.runState,
      name: pushed.name,
      template: pushed.template,
      uptime: pushed.running ? Math.max(1, Math.floor((now - pushed.startedAt) / 1000)) : 0
    }
  const row: Record<string, unknown> = {
    id: `${g.kind}/${g.vmid}`,
    vmid: g.vmid,
    node: g.node,
    type: g.kind,
    // pve-manager `PVE::Service::pvestatd::update_qemu_status` pushes the QMP status for qemu.
    status: stats === undefined
      ? "unknown"
      : !stats.running
      ? "stopped"
      : g.kind === "qemu"
      ? stats.runState
      : "running"
  }
  if (stats !== undefined) {
    const mem = maxmem(g)
    Object.assign(row, {
      name: stats.name,
      uptime: stats.uptime,
      template: stats.template ? 1 : 0,
      maxcpu: cpus(g),
      cpu: stats.running ? 0.01 : 0,
      maxmem: mem,
      mem: stats.running ? Math.floor(mem * 0.4) : 0,
      maxdisk: maxdisk(g),
      disk: 0,
      netin: 0,
      netout: 0,
      diskread: 0,
      diskwrite: 0
    })
  }
  liveKeys(g, row)
  // pve-manager `PVE::API2::Cluster` resources: the CRM service state, else the configured one.
  if (g.ha !== undefined) row["hastate"] = g.ha.state === "ignored" ? "ignored" : g.ha.crm
  return row
}
