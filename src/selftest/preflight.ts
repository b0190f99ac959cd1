/**
 * Permission preflight: which privileges each selftest task needs on which ACL path
 * (the `check` of each qemu-server `PVE::API2::Qemu` / pve-container `PVE::API2::LXC` method),
 * checked against GET /access/permissions before anything is touched, so
 * a token that lacks one gets a failure naming the exact path and privilege instead of a 403
 * halfway through a task.
 */
import type { Permissions } from "../domain/Cluster.js"
import type { MutatingTask } from "./steps.js"

export interface Requirement {
  readonly task: MutatingTask
  readonly path: string
  /** Any one of these satisfies the requirement. */
  readonly anyOf: ReadonlyArray<string>
  readonly why: string
}

export interface MissingPrivilege {
  readonly task: MutatingTask
  readonly path: string
  /** One privilege, or `A or B` when either would do. */
  readonly privilege: string
  readonly why: string
}

export const vmPath = (vmid: number): string => `/vms/${vmid}`

/**
 * Rollback accepts VM.Snapshot or VM.Snapshot.Rollback; create and delete need VM.Snapshot,
 * so VM.Snapshot alone covers the whole snapshot task. Snapshots are created without vmstate
 * and rolled back without `start`, so VM.PowerMgmt is not needed.
 */
export const requirementsFor = (vmid: number, task: MutatingTask): ReadonlyArray<Requirement> => {
  const path = vmPath(vmid)
  switch (task) {
    case "snapshot":
      return [
        { task, path, anyOf: ["VM.Audit"], why: "read config and list snapshots" },
        { task, path, anyOf: ["VM.Snapshot"], why: "create, roll back and delete a snapshot" }
      ]
    case "config":
      return [
        { task, path, anyOf: ["VM.Audit"], why: "read the config" },
        { task, path, anyOf: ["VM.Config.Options"], why: "write description" }
      ]
  }
}

/**
 * Privileges held on `path`. PVE answers an explicit `path` query with the effective set there
 * (propagation already applied); without the path key, fall back to what `/` propagates.
 */
export const privilegesOn = (permissions: Permissions, path: string): ReadonlySet<string> => {
  const exact = permissions[path]
  if (exact !== undefined) return new Set(Object.keys(exact))
  const root = permissions["/"] ?? {}
  return new Set(Object.entries(root).filter(([, propagate]) => propagate === 1).map(([p]) => p))
}

export const missingPrivileges = (
  permissions: Permissions,
  vmid: number,
  tasks: ReadonlyArray<MutatingTask>
): ReadonlyArray<MissingPrivilege> =>
  tasks.flatMap((task) =>
    requirementsFor(vmid, task)
      .filter((r) => {
        const held = privilegesOn(permissions, r.path)
        return !r.anyOf.some((p) => held.has(p))
      })
      .map((r) => ({ task: r.task, path: r.path, privilege: r.anyOf.join(" or "), why: r.why }))
  )

export const describeMissing = (m: MissingPrivilege): string => `${m.privilege} on ${m.path} (${m.task}: ${m.why})`
