/**
 * Which PVE task types an action runs as, to find a task whose UPID was never journaled
 * (the UPID's `type` field, pve-common `PVE::UPID::decode`). An empty list means the action answers
 * synchronously and leaves no task, so recovery goes straight to re-observing the guest;
 * `undefined` means the action is unknown here, and recovery flags it rather than guess.
 */
import type { OpRecord } from "./OpRecord.js"

export interface TaskTypes {
  readonly types: ReadonlyArray<string>
}

const QEMU: Readonly<Record<string, ReadonlyArray<string>>> = {
  "start": ["qmstart"],
  "stop": ["qmstop"],
  "shutdown": ["qmshutdown"],
  "reboot": ["qmreboot"],
  "snapshot-create": ["qmsnapshot"],
  "snapshot-rollback": ["qmrollback"],
  "snapshot-delete": ["qmdelsnapshot"]
}

const LXC: Readonly<Record<string, ReadonlyArray<string>>> = {
  "start": ["vzstart"],
  "stop": ["vzstop"],
  "shutdown": ["vzshutdown"],
  "reboot": ["vzreboot"],
  "snapshot-create": ["vzsnapshot"],
  "snapshot-rollback": ["vzrollback"],
  "snapshot-delete": ["vzdelsnapshot"],
  // lxc config is only the synchronous PUT (pve-container `PVE::API2::LXC::Config::update_vm`).
  "set-config": []
}

/**
 * qemu set-config is a task (qmconfig) when POSTed and none when PUT (qemu-server
 * `PVE::API2::Qemu::update_vm_async` / `update_vm`). Only
 * an explicit `mode: "sync"` skips the search: searching when no task exists finds none and
 * falls back to re-observing, so searching is the safe default.
 */
const qemuSetConfig = (params: OpRecord["params"]): ReadonlyArray<string> =>
  params !== null && typeof params === "object" && !Array.isArray(params) && "mode" in params &&
    params["mode"] === "sync"
    ? []
    : ["qmconfig"]

export const taskTypesFor = (op: OpRecord): TaskTypes | undefined => {
  if (op.guestType === "qemu" && op.action === "set-config") return { types: qemuSetConfig(op.params) }
  const types = (op.guestType === "qemu" ? QEMU : LXC)[op.action]
  return types === undefined ? undefined : { types }
}
