/**
 * The route table under /api2/json. A path/method pair not in the table answers PVE's
 * 501 "Method 'VERB /path' not implemented" (pve-manager `PVE::HTTPServer::rest_handler`). URI
 * parameters are merged into the request parameters; a conflicting duplicate is a 400 (same place).
 */
import type { TokenRecord } from "../Access.js"
import type { SimCluster } from "../Cluster.js"
import type { Params } from "../Params.js"
import { notImplemented, paramFail, type Reply } from "../Reply.js"
import { getClusterStatus } from "./ClusterStatus.js"
import { getConfig, getPending, putConfig } from "./Config.js"
import type { Ctx } from "./Context.js"
import { getGuestList, getNodes, getPermissions, getResources, getVersion } from "./Lists.js"
import { getStatus, postPower } from "./Power.js"
import { createSnapshot, deleteSnapshot, getSnapshotConfig, listSnapshots, rollbackSnapshot } from "./Snapshots.js"
import { getTaskLog, getTaskStatus, listTasks } from "./TaskApi.js"

type Handler = (ctx: Ctx) => Reply | Promise<Reply>

interface Route {
  readonly method: string
  readonly re: RegExp
  readonly names: ReadonlyArray<string>
  readonly handler: Handler
}

const route = (method: string, pattern: string, handler: Handler): Route => {
  const names: Array<string> = []
  const src = pattern.replace(/\{(\w+)(?::([^}]+))?\}/g, (_m, name: string, alt: string | undefined) => {
    names.push(name)
    return alt === undefined ? "([^/]+)" : `(${alt})`
  })
  return { method, re: new RegExp(`^${src}/?$`), names, handler }
}

const G = "/nodes/{node}/{kind:qemu|lxc}/{vmid}"
const ROUTES: ReadonlyArray<Route> = [
  route("GET", "/version", getVersion),
  route("GET", "/nodes", getNodes),
  route("GET", "/cluster/resources", getResources),
  route("GET", "/cluster/status", getClusterStatus),
  route("GET", "/access/permissions", getPermissions),
  route("GET", "/nodes/{node}/{kind:qemu|lxc}", getGuestList),
  route("GET", `${G}/status/current`, getStatus),
  route("POST", `${G}/status/start`, postPower("start")),
  route("POST", `${G}/status/stop`, postPower("stop")),
  route("POST", `${G}/status/shutdown`, postPower("shutdown")),
  route("POST", `${G}/status/reboot`, postPower("reboot")),
  route("POST", "/nodes/{node}/{kind:qemu}/{vmid}/status/suspend", postPower("suspend")),
  route("POST", "/nodes/{node}/{kind:qemu}/{vmid}/status/resume", postPower("resume")),
  route("GET", `${G}/config`, getConfig),
  route("GET", `${G}/pending`, getPending),
  route("PUT", `${G}/config`, putConfig(false)),
  route("POST", "/nodes/{node}/{kind:qemu}/{vmid}/config", putConfig(true)),
  route("GET", `${G}/snapshot`, listSnapshots),
  route("POST", `${G}/snapshot`, createSnapshot),
  route("GET", `${G}/snapshot/{snapname}/config`, getSnapshotConfig),
  route("POST", `${G}/snapshot/{snapname}/rollback`, rollbackSnapshot),
  route("DELETE", `${G}/snapshot/{snapname}`, deleteSnapshot),
  route("GET", "/nodes/{node}/tasks", listTasks),
  route("GET", "/nodes/{node}/tasks/{upid}/status", getTaskStatus),
  route("GET", "/nodes/{node}/tasks/{upid}/log", getTaskLog)
]

const decode = (s: string): string => {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/** Whether the request would change state (drop-after faults only hit these). */
export const isMutating = (method: string): boolean => method === "POST" || method === "PUT" || method === "DELETE"

export const dispatch = (
  cluster: SimCluster,
  token: TokenRecord,
  method: string,
  path: string,
  params: Params,
  localNode: string
): Reply | Promise<Reply> => {
  for (const r of ROUTES) {
    if (r.method !== method) continue
    const m = r.re.exec(path)
    if (m === null) continue
    const uri: Record<string, string> = {}
    r.names.forEach((n, i) => (uri[n] = decode(m[i + 1] ?? "")))
    const merged: Params = { ...params }
    for (const [k, val] of Object.entries(uri)) {
      if (k === "kind") continue
      const given = merged[k]
      if (given !== undefined && given !== val) {
        return paramFail({ [k]: "duplicate parameter (already defined in URI) with conflicting values!" })
      }
      merged[k] = val
    }
    return r.handler({ cluster, token, params: merged, uri, method, localNode })
  }
  return notImplemented(method, path)
}
