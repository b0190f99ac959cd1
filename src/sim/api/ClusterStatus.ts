/**
 * GET /cluster/status: the one endpoint whose answer depends on which node's listener got the
 * request (pve-manager `PVE::API2::Cluster` `get_status`). It is `protected` without `proxyto`,
 * so the answering node's pvedaemon runs it and marks itself `local: 1`.
 */
import { Either } from "effect"
import { ok, type Reply } from "../Reply.js"
import { check, type Ctx, need } from "./Context.js"

/** The corosync cluster name every multi-node simulator reports. */
export const SIM_CLUSTER_NAME = "felhom-sim"

/**
 * In a cluster: pmxcfs's `clinfo` gives the `cluster` entry (`quorate` and `version` are C
 * integers, pve-cluster `src/pmxcfs/status.c`) and one member entry per node with corosync
 * nodeids from 1; `level` is the subscription level, "" without one. The members come from a
 * Perl hash, so their order is random; the cluster entry is pushed first. A standalone host has
 * no members and answers a single entry for itself with nodeid 0.
 */
export const getClusterStatus = (ctx: Ctx): Reply =>
  Either.merge(Either.gen(function*() {
    yield* need(ctx, "/", "Sys.Audit")
    yield* check(ctx, {})
    const nodes = ctx.cluster.nodes
    const ip = ctx.cluster.nodeIp
    if (nodes.length <= 1) {
      return ok([{
        type: "node",
        id: `node/${ctx.localNode}`,
        name: ctx.localNode,
        ip,
        local: 1,
        nodeid: 0,
        online: 1,
        level: ""
      }])
    }
    const members = nodes.map((name, i) => ({
      type: "node",
      id: `node/${name}`,
      name,
      nodeid: i + 1,
      local: name === ctx.localNode ? 1 : 0,
      online: 1,
      ip,
      level: ""
    }))
    // corosync.conf's config_version: 1 after `pvecm create`, +1 per joined node (pve-cluster
    // `PVE::Corosync::atomic_write_conf` bumps it on every write).
    const cluster = {
      type: "cluster",
      id: "cluster",
      name: SIM_CLUSTER_NAME,
      nodes: nodes.length,
      version: nodes.length,
      quorate: 1
    }
    return ok([cluster, ...ctx.cluster.prng.shuffle(members)])
  }))
