/**
 * Shapes of PVE's cluster-level and per-guest read answers (pve-manager `PVE::API2::Cluster::resources`,
 * qemu-server `PVE::API2::Qemu::vm_status` and `snapshot_list`, pve-access-control
 * `PVE::API2::AccessControl::permissions`).
 * Only the fields the agent reads are declared; PVE adds many more and they are ignored.
 */
import { Schema } from "effect"
import { GuestType } from "./Guest.js"
import { Vmid } from "./Vmid.js"

export const PveVersion = Schema.Struct({
  version: Schema.String,
  release: Schema.optional(Schema.String),
  repoid: Schema.optional(Schema.String)
})
export type PveVersion = typeof PveVersion.Type

export const NodeInfo = Schema.Struct({
  node: Schema.String,
  status: Schema.Literal("online", "offline", "unknown"),
  ssl_fingerprint: Schema.optional(Schema.String),
  uptime: Schema.optional(Schema.Number)
})
export type NodeInfo = typeof NodeInfo.Type

/**
 * One entry of GET /cluster/status (pve-manager `PVE::API2::Cluster::status`): a `cluster`
 * entry (only in a cluster) and one `node` entry per node. `local` marks the node that answered
 * the request: how an agent talking to its own host's pveproxy learns which node it runs on. A
 * standalone host answers with its own node entry only. Booleans come as 0/1.
 */
export const ClusterStatusEntry = Schema.Struct({
  type: Schema.String,
  id: Schema.String,
  name: Schema.optional(Schema.String),
  local: Schema.optional(Schema.Union(Schema.Number, Schema.Boolean)),
  online: Schema.optional(Schema.Union(Schema.Number, Schema.Boolean)),
  nodeid: Schema.optional(Schema.Number)
})
export type ClusterStatusEntry = typeof ClusterStatusEntry.Type

/**
 * A row of GET /cluster/resources?type=vm. `status` comes from RRD data up to ~10 s old and
 * reads `unknown` for a fresh guest; for qemu it is the QMP run state (`paused`, …), so it is
 * never a basis for acting without status/current (pve-manager `PVE::API2Tools::extract_vm_stats`,
 * fed by `PVE::Service::pvestatd::update_qemu_status` every ~10 s).
 */
export const ClusterGuest = Schema.Struct({
  id: Schema.String,
  vmid: Vmid,
  node: Schema.String,
  type: GuestType,
  status: Schema.String,
  name: Schema.optional(Schema.String),
  template: Schema.optional(Schema.Number),
  lock: Schema.optional(Schema.String),
  tags: Schema.optional(Schema.String),
  hastate: Schema.optional(Schema.String)
})
export type ClusterGuest = typeof ClusterGuest.Type

/** GET .../status/current: only `running`/`stopped`; a paused VM is running with qmpstatus. */
export const GuestStatus = Schema.Struct({
  status: Schema.Literal("running", "stopped"),
  qmpstatus: Schema.optional(Schema.String),
  name: Schema.optional(Schema.String),
  lock: Schema.optional(Schema.String),
  template: Schema.optional(Schema.Union(Schema.Number, Schema.String)),
  uptime: Schema.optional(Schema.Number),
  ha: Schema.optional(Schema.Struct({ managed: Schema.Number, state: Schema.optional(Schema.String) }))
})
export type GuestStatus = typeof GuestStatus.Type

/** One entry of the snapshot list; the synthetic `current` entry is dropped by the client. */
export const Snapshot = Schema.Struct({
  name: Schema.String,
  snaptime: Schema.optional(Schema.Number),
  description: Schema.optional(Schema.String),
  parent: Schema.optional(Schema.String),
  snapstate: Schema.optional(Schema.String),
  vmstate: Schema.optional(Schema.Number)
})
export type Snapshot = typeof Snapshot.Type

/** GET /access/permissions: ACL path → privilege → 1 (propagating) or 0. */
export const Permissions = Schema.Record({
  key: Schema.String,
  value: Schema.Record({ key: Schema.String, value: Schema.Number })
})
export type Permissions = typeof Permissions.Type
