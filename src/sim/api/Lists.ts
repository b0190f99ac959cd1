/**
 * Cluster-wide reads: /version, /nodes, /cluster/resources, /nodes/N/{qemu,lxc},
 * /access/permissions (pve-manager `PVE::API2::Cluster::resources`, `PVE::API2::Nodes`; qemu-server
 * `PVE::API2::Qemu::vmlist`; pve-access-control `PVE::API2::AccessControl::permissions`). Lists
 * the caller may not audit are filtered,
 * never refused.
 */
import { Either } from "effect"
import { effectivePrivs, permissionsView } from "../Access.js"
import { boolSpec, nodeSpec, strSpec } from "../Params.js"
import { die, ok, type Reply } from "../Reply.js"
import { check, type Ctx, kindOf, uriNode } from "./Context.js"
import { listRow, qmpStatus, resourceRow } from "./Views.js"

export const getVersion = (ctx: Ctx): Reply =>
  Either.merge(Either.map(check(ctx, {}), () => ok({ version: "9.2.11", release: "9.2", repoid: "a1b2c3d4" })))

const nodeRow = (ctx: Ctx, node: string): Record<string, unknown> => {
  const row: Record<string, unknown> = {
    id: `node/${node}`,
    node,
    type: "node",
    status: "online",
    level: "",
    ssl_fingerprint: ctx.cluster.fingerprint
  }
  if (effectivePrivs(ctx.token, `/nodes/${node}`).has("Sys.Audit")) {
    Object.assign(row, {
      uptime: 86400,
      cpu: 0.02,
      maxcpu: 8,
      mem: 4 * 1024 ** 3,
      maxmem: 32 * 1024 ** 3,
      disk: 10 * 1024 ** 3,
      maxdisk: 100 * 1024 ** 3
    })
  }
  return row
}

export const getNodes = (ctx: Ctx): Reply =>
  Either.merge(Either.map(check(ctx, {}), () => ok(ctx.cluster.nodes.map((n) => nodeRow(ctx, n)))))

export const getResources = (ctx: Ctx): Reply =>
  Either.merge(Either.gen(function*() {
    const { type } = yield* check(ctx, { type: { type: "string", enum: ["vm", "storage", "node", "sdn"] } })
    const rows: Array<Record<string, unknown>> = []
    if (type === undefined || type === "vm") {
      const now = Date.now()
      const vms: Array<readonly [string, Record<string, unknown>]> = []
      for (const g of ctx.cluster.guests.values()) {
        if (!effectivePrivs(ctx.token, `/vms/${g.vmid}`).has("VM.Audit")) continue
        vms.push([
          String(g.vmid),
          resourceRow(g, ctx.cluster.settings.statsDelay, now, ctx.cluster.stats.published(g.vmid, now))
        ])
      }
      // PVE sorts the rows by vmid as a string: "1000" before "101" (pve-manager
      // `PVE::API2::Cluster::resources`).
      vms.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      for (const [, r] of vms) rows.push(r)
    }
    if (type === undefined || type === "node") { for (const n of ctx.cluster.nodes) rows.push(nodeRow(ctx, n)) }
    return ok(rows)
  }))

/** The text PVE gives for a node it cannot resolve (a hostname-lookup error; exact text uncertain). */
export const unknownNode = (node: string): Reply =>
  die(`hostname lookup '${node}' failed - failed to get address info for: ${node}: Name or service not known`)

export const getGuestList = (ctx: Ctx): Reply =>
  Either.merge(Either.gen(function*() {
    const kind = kindOf(ctx.uri["kind"])
    const values = yield* check(ctx, kind === "qemu" ? { node: nodeSpec, full: boolSpec } : { node: nodeSpec })
    const node = uriNode(ctx)
    if (!ctx.cluster.nodes.includes(node)) return unknownNode(node)
    const rows: Array<Record<string, unknown>> = []
    for (const g of ctx.cluster.guests.values()) {
      if (g.node !== node || g.kind !== kind) continue
      if (!effectivePrivs(ctx.token, `/vms/${g.vmid}`).has("VM.Audit")) continue
      const row = listRow(g)
      if (values["full"] === "1") row["qmpstatus"] = qmpStatus(g)
      rows.push(row)
    }
    // Built from a Perl hash: random order (qemu-server `PVE::API2::Qemu::vmlist`).
    return ok(ctx.cluster.prng.shuffle(rows))
  }))

export const getPermissions = (ctx: Ctx): Reply =>
  Either.merge(
    Either.map(check(ctx, { path: strSpec(), userid: strSpec() }), (values) =>
      ok(permissionsView(ctx.token, values["path"])))
  )
