/**
 * Guest identity: what kind of guest, on which node. Guests are found through
 * /cluster/resources (pve-manager `PVE::API2::Cluster::resources`); every per-guest call goes to
 * `/nodes/{node}/{type}/{vmid}`.
 */
import { Schema } from "effect"
import { Vmid } from "./Vmid.js"

export const GuestType = Schema.Literal("qemu", "lxc")
export type GuestType = typeof GuestType.Type

/** Node names follow PVE's hostname rule (the UPID decode regex uses the same shape). */
export const NodeName = Schema.String.pipe(
  Schema.pattern(/^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/, {
    message: (issue) => `node name must be a hostname label, got ${JSON.stringify(issue.actual)}`
  }),
  Schema.brand("NodeName")
)
export type NodeName = typeof NodeName.Type

export class GuestRef extends Schema.Class<GuestRef>("GuestRef")({
  vmid: Vmid,
  node: NodeName,
  type: GuestType
}) {
  /** The API path prefix of this guest, e.g. `/nodes/pve1/qemu/100`. */
  get path(): string {
    return `/nodes/${this.node}/${this.type}/${this.vmid}`
  }
  /** The ACL path PVE checks guest privileges on (`/vms/{vmid}`, qemu-server `PVE::API2::Qemu`). */
  get aclPath(): string {
    return `/vms/${this.vmid}`
  }
  override toString(): string {
    return `${this.type}/${this.vmid}@${this.node}`
  }
}

/** Which word PVE uses for a guest type in its messages ("VM is locked", "CT is locked"). */
export const guestNoun = (type: GuestType): "VM" | "CT" => (type === "qemu" ? "VM" : "CT")
