/**
 * One API listener per node and GET /cluster/status (pve-manager `PVE::API2::Cluster`
 * `get_status`): the answering node is the one entry with `local: 1`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { type RunningSim, type SimOptions, startSimulator } from "../../src/sim/Simulator.js"
import { freePort } from "../support/daemon.js"
import { dataRows, type JsonObject, request } from "./client.js"

const NODES = ["pve1", "pve2", "pve3"]

const start = (options: SimOptions = {}) =>
  startSimulator({
    https: false,
    authFailureDelay: 0,
    nodes: NODES,
    guests: [{ vmid: 100, type: "qemu" }, { vmid: 200, type: "lxc", node: "pve2" }],
    ...options
  })

/** The same simulator, addressed through `node`'s listener. */
const on = (s: RunningSim, node: string): RunningSim => ({ ...s, url: s.nodeUrls[node] ?? "" })

const clusterStatus = (s: RunningSim, node: string) => Effect.map(request(on(s, node), "/cluster/status"), dataRows)

const nodeEntries = (rows: ReadonlyArray<JsonObject>) => rows.filter((r) => r.type === "node")

describe("node listeners and GET /cluster/status", () => {
  it.scoped("in a 3-node cluster each listener marks itself, and only itself, local", () =>
    Effect.gen(function*() {
      const s = yield* start()
      expect(Object.keys(s.nodeUrls)).toEqual(NODES)
      expect(new Set(Object.values(s.nodeUrls)).size).toBe(3)
      expect(s.url).toBe(s.nodeUrls["pve1"])
      for (const node of NODES) {
        const rows = yield* clusterStatus(s, node)
        expect(rows.filter((r) => r.type === "cluster")).toEqual([
          { type: "cluster", id: "cluster", name: "felhom-sim", nodes: 3, quorate: 1, version: 3 }
        ])
        const members = nodeEntries(rows)
        expect(members.filter((r) => r.local === 1).map((r) => r.name)).toEqual([node])
        expect([...members].sort((a, b) => Number(a.nodeid) - Number(b.nodeid))).toEqual(
          NODES.map((name, i) => ({
            type: "node",
            id: `node/${name}`,
            name,
            nodeid: i + 1,
            online: 1,
            local: name === node ? 1 : 0,
            ip: "127.0.0.1",
            level: ""
          }))
        )
      }
    }))

  it.scoped("a standalone host answers its own node entry only: nodeid 0, local 1", () =>
    Effect.gen(function*() {
      const s = yield* start({ nodes: ["pve1"], guests: [] })
      expect(s.nodeUrls).toEqual({ pve1: s.url })
      expect(yield* clusterStatus(s, "pve1")).toEqual([
        { type: "node", id: "node/pve1", name: "pve1", nodeid: 0, online: 1, local: 1, ip: "127.0.0.1", level: "" }
      ])
    }))

  it.scoped("needs Sys.Audit on /: 403 in PVE's form otherwise; no parameters", () =>
    Effect.gen(function*() {
      const s = yield* start({
        tokens: [
          { tokenid: "felhom@pve!agent", secret: "full", privileges: [{ path: "/", privs: ["*"] }] },
          { tokenid: "vms@pve!only", secret: "vms", privileges: [{ path: "/vms", privs: ["VM.Audit"] }] },
          { tokenid: "nodes@pve!only", secret: "nodes", privileges: [{ path: "/nodes", privs: ["Sys.Audit"] }] }
        ]
      })
      for (const auth of ["PVEAPIToken=vms@pve!only=vms", "PVEAPIToken=nodes@pve!only=nodes"]) {
        const r = yield* request(on(s, "pve2"), "/cluster/status", { auth })
        expect([r.status, r.statusMessage]).toEqual([403, "Permission check failed (/, Sys.Audit)"])
        expect(r.body).toEqual({ data: null, message: "Permission check failed (/, Sys.Audit)\n" })
      }
      const extra = yield* request(s, "/cluster/status", { query: { type: "node" } })
      expect(extra.status).toBe(400)
    }))

  it.scoped("every other endpoint answers the same on every listener, as pveproxy forwards /nodes/OTHER/…", () =>
    Effect.gen(function*() {
      const s = yield* start()
      for (const node of NODES) {
        const lxc = yield* Effect.map(request(on(s, node), "/nodes/pve2/lxc"), dataRows)
        expect(lxc.map((r) => r.vmid)).toEqual([200])
        const vms = yield* Effect.map(request(on(s, node), "/cluster/resources", { query: { type: "vm" } }), dataRows)
        expect(vms.map((r) => [r.vmid, r.node])).toEqual([[100, "pve1"], [200, "pve2"]])
      }
    }))

  it.live("a fixed port puts node i on port+i", () =>
    Effect.gen(function*() {
      // Another process may take one of the ports between the probe and the start: try again.
      for (let attempt = 0;; attempt++) {
        const port = yield* freePort
        const started = yield* Effect.either(
          Effect.scoped(Effect.map(start({ nodes: ["pve1", "pve2"], guests: [], port }), (s) => s.nodeUrls))
        )
        if (Either.isRight(started)) {
          expect(started.right).toEqual({ pve1: `http://127.0.0.1:${port}`, pve2: `http://127.0.0.1:${port + 1}` })
          return
        }
        if (attempt >= 4) expect.fail(started.left.message)
      }
    }))

  it.scoped("node lists that cannot be a cluster are refused at start", () =>
    Effect.gen(function*() {
      for (
        const [nodes, message] of [
          [[], "at least one node is required"],
          [["pve1", "pve1"], "node 'pve1' is listed twice"],
          [["pve_1"], "invalid node name 'pve_1'"]
        ] as const
      ) {
        const r = yield* Effect.flip(start({ nodes }))
        expect(r.message).toBe(message)
      }
    }))
})
