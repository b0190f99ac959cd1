/**
 * The live `Pve`: each call is one `PveRequest` — path, params, and the Schema of what PVE
 * answers (the PVE API schema: pve-manager `PVE::API2::Cluster`, qemu-server `PVE::API2::Qemu`,
 * pve-container `PVE::API2::LXC`). Paths are built from a `GuestRef`, so a guest is always addressed
 * on the node it lives on.
 */
import { Effect, Either, Schema } from "effect"
import {
  ClusterGuest,
  ClusterStatusEntry,
  GuestStatus,
  NodeInfo,
  Permissions,
  PveVersion,
  Snapshot
} from "../domain/Cluster.js"
import type { GuestRef } from "../domain/Guest.js"
import { GuestConfigResponse, PendingEntry, toGuestConfig } from "../domain/GuestConfig.js"
import { TaskListEntry, TaskLogLine, TaskStatus } from "../domain/Task.js"
import { parseUpid, UpidString } from "../domain/Upid.js"
import { makeDispatcher } from "./dispatcher.js"
import { MutationResult } from "./MutationResult.js"
import type { ConfigChange, PowerAction, PowerOptions, PveShape } from "./Pve.js"
import { PveConnection } from "./PveConnection.js"
import { PveBadResponse, type PveError } from "./PveError.js"
import { makeSend, type Params } from "./PveHttp.js"
import { makeServerClock } from "./ServerClock.js"
import { waitTask } from "./waitTask.js"

// Answer schemas are built once: the client caches a compiled decoder per schema value.
const MutationAnswer = Schema.NullOr(UpidString)
const NodeList = Schema.Array(NodeInfo)
const ClusterGuestList = Schema.Array(ClusterGuest)
const ClusterStatusList = Schema.Array(ClusterStatusEntry)
const PendingList = Schema.Array(PendingEntry)
const SnapshotList = Schema.Array(Snapshot)
const TaskLogLines = Schema.Array(TaskLogLine)
const TaskList = Schema.Array(TaskListEntry)

const toMutationResult = (upid: UpidString | null): MutationResult =>
  upid === null ? MutationResult.Sync() : MutationResult.Task({ upid })

const taskPath = (upid: UpidString): Effect.Effect<string, PveError> =>
  Either.match(parseUpid(upid), {
    onLeft: (e) => Effect.fail(new PveBadResponse({ method: "GET", path: "/nodes/?/tasks", issue: e.message })),
    onRight: (parts) => Effect.succeed(`/nodes/${parts.node}/tasks/${encodeURIComponent(upid)}`)
  })

const powerParams = (action: PowerAction, options: PowerOptions | undefined): Params => ({
  timeout: options?.timeout,
  // forceStop only exists on shutdown; sending it elsewhere is a 400 (strict validation).
  forceStop: action === "shutdown" ? options?.forceStop : undefined
})

const configParams = (change: ConfigChange): Params => ({
  ...change.set,
  delete: change.delete.length > 0 ? change.delete.join(",") : undefined,
  digest: change.digest
})

export const make = Effect.gen(function*() {
  const settings = yield* PveConnection
  const dispatcher = yield* makeDispatcher(settings)
  const serverClock = makeServerClock()
  const sendOnce = yield* makeSend(settings, dispatcher, serverClock)
  // Requests sent so far (a retried read counts twice): how much a pass asked of pveproxy.
  let requests = 0
  const send: typeof sendOnce = (req) =>
    Effect.suspend(() => {
      requests += 1
      return sendOnce(req)
    })
  const get = <A, I>(path: string, data: Schema.Schema<A, I>, params?: Params) =>
    Effect.map(send({ method: "GET", path, data, params }), (r) => r.data)
  const mutate = (method: "POST" | "PUT" | "DELETE", path: string, params?: Params) =>
    Effect.map(send({ method, path, data: MutationAnswer, params }), (r) => toMutationResult(r.data))

  const taskStatus = (upid: UpidString) => Effect.flatMap(taskPath(upid), (p) => get(`${p}/status`, TaskStatus))

  const shape: PveShape = {
    version: get("/version", PveVersion),
    nodes: get("/nodes", NodeList),
    clusterStatus: get("/cluster/status", ClusterStatusList),
    guests: get("/cluster/resources", ClusterGuestList, { type: "vm" }),
    status: (guest) => get(`${guest.path}/status/current`, GuestStatus),
    power: (guest, action, options) => mutate("POST", `${guest.path}/status/${action}`, powerParams(action, options)),
    config: (guest, options) =>
      Effect.map(
        get(`${guest.path}/config`, GuestConfigResponse, { current: options?.current === true ? true : undefined }),
        toGuestConfig
      ),
    pending: (guest) => get(`${guest.path}/pending`, PendingList),
    setConfig: (guest, change) =>
      // lxc has only the synchronous PUT (pve-container `PVE::API2::LXC::Config::update_vm`);
      // qemu POST answers a qmconfig task (qemu-server `PVE::API2::Qemu::update_vm_async`).
      mutate(
        guest.type === "qemu" && change.mode !== "sync" ? "POST" : "PUT",
        `${guest.path}/config`,
        configParams(change)
      ),
    snapshots: (guest) =>
      Effect.map(get(`${guest.path}/snapshot`, SnapshotList), (list) => list.filter((s) => s.name !== "current")),
    createSnapshot: (guest, snapshot) =>
      mutate("POST", `${guest.path}/snapshot`, {
        snapname: snapshot.name,
        description: snapshot.description,
        vmstate: guest.type === "qemu" ? snapshot.vmstate : undefined
      }),
    rollbackSnapshot: (guest, name, options) =>
      mutate("POST", `${snapshotPath(guest, name)}/rollback`, { start: options?.start }),
    deleteSnapshot: (guest, name, options) => mutate("DELETE", snapshotPath(guest, name), { force: options?.force }),
    taskStatus,
    taskLog: (upid, options) =>
      Effect.flatMap(taskPath(upid), (p) =>
        Effect.map(
          send({
            method: "GET",
            path: `${p}/log`,
            data: TaskLogLines,
            withTotal: true,
            params: { start: options?.start, limit: options?.limit }
          }),
          (r) => ({ lines: r.data, total: r.total ?? r.data.length })
        )),
    tasks: (node, filter) => get(`/nodes/${encodeURIComponent(node)}/tasks`, TaskList, { ...filter }),
    permissions: (path) => get("/access/permissions", Permissions, { path }),
    waitTask: (upid, options) => waitTask(taskStatus, upid, options.deadline),
    clockSkew: Effect.sync(serverClock.skewMillis),
    requestCount: Effect.sync(() => requests)
  }
  return shape
})

const snapshotPath = (guest: GuestRef, name: string): string => `${guest.path}/snapshot/${encodeURIComponent(name)}`
