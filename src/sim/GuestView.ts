/**
 * How the control API shows one simulated guest to a test: its state as plain values, with the
 * config text and digest PVE would answer, so a test asserts on what PVE holds, not on what the
 * agent read back.
 */
import { digestOf, type GuestState, type HaRequest, type RunState, serializeConfig } from "./GuestState.js"

export interface SimGuestView {
  readonly vmid: number
  readonly type: "qemu" | "lxc"
  readonly node: string
  readonly status: "running" | "stopped"
  /** qemu QMP status while running (`running`, `paused`, `suspended`); `stopped` otherwise. */
  readonly qmpstatus: RunState | "stopped"
  /** HA resource: requested state and CRM state; undefined when not configured. */
  readonly ha: { readonly state: HaRequest; readonly crm: string } | undefined
  readonly config: Readonly<Record<string, string>>
  readonly pending: Readonly<Record<string, string>>
  readonly pendingDelete: ReadonlyArray<string>
  readonly snapshots: Readonly<Record<string, Readonly<Record<string, string>>>>
  readonly configText: string
  readonly digest: string
}

export const viewOf = (g: GuestState): SimGuestView => ({
  vmid: g.vmid,
  type: g.kind,
  node: g.node,
  status: g.running ? "running" : "stopped",
  qmpstatus: g.running ? g.runState : "stopped",
  ha: g.ha === undefined ? undefined : { state: g.ha.state, crm: g.ha.crm },
  config: Object.fromEntries(g.config),
  pending: Object.fromEntries(g.pending),
  pendingDelete: [...g.pendingDelete.keys()],
  snapshots: Object.fromEntries([...g.snapshots].map(([n, m]) => [n, Object.fromEntries(m)])),
  configText: serializeConfig(g),
  digest: digestOf(g)
})
