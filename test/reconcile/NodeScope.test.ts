/**
 * NodeScope learns the node an agent owns from the PVE endpoint it talks to (GET /cluster/status,
 * `local`), over the simulator's per-node listeners: one answer per listener, a clear error when
 * the token may not ask, and a `node` setting checked against the cluster's nodes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import type { ClusterStatusEntry } from "../../src/domain/Cluster.js"
import { Pve } from "../../src/pve/Pve.js"
import { PveConnection } from "../../src/pve/PveConnection.js"
import { localNode, NodeScope, type NodeScopeOptions, owns } from "../../src/reconcile/NodeScope.js"
import type { SimTokenSeed } from "../../src/sim/Simulator.js"
import { Sim, simConnection } from "../support/sim.js"

const NODES = ["pve1", "pve2", "pve3"]

const AUDIT_ONLY: SimTokenSeed = {
  tokenid: "felhom@pve!vmonly",
  secret: "7d4c1a2b-3333-4444-5555-666677778888",
  privileges: [{ path: "/vms", privs: ["VM.Audit"], propagate: true }]
}

/** NodeScope over a client of `node`'s listener (or the first), with `token` (or the default). */
const ownershipVia = (options: NodeScopeOptions, node?: string, token?: SimTokenSeed) =>
  Effect.gen(function*() {
    const sim = yield* Sim
    const connection = yield* Effect.orDie(simConnection(sim, {
      url: node === undefined ? sim.url : sim.nodeUrls[node] ?? "",
      ...(token === undefined ? {} : { token: { tokenId: token.tokenid, secret: Redacted.make(token.secret) } })
    }))
    const layer = NodeScope.layer(options).pipe(
      Layer.provideMerge(Layer.fresh(Pve.layer)),
      Layer.provide(Layer.succeed(PveConnection, connection))
    )
    return yield* Effect.flatMap(NodeScope, (scope) => Effect.either(scope.current)).pipe(Effect.provide(layer))
  })

describe("NodeScope over a three-node cluster", () => {
  it.layer(Sim.layer({ nodes: NODES }))((it) => {
    it.effect("each node's listener makes the agent own that node", () =>
      Effect.gen(function*() {
        for (const node of NODES) {
          const owned = yield* ownershipVia({ mode: "node" }, node)
          expect(owned).toMatchObject({ _tag: "Right", right: { mode: "node", node } })
        }
      }))

    it.effect("cluster scope owns every node and asks PVE nothing", () =>
      Effect.gen(function*() {
        const owned = yield* ownershipVia({ mode: "cluster" })
        expect(owned).toMatchObject({ _tag: "Right", right: { mode: "cluster", node: undefined } })
        if (owned._tag === "Right") expect(NODES.every((n) => owns(owned.right, n))).toBe(true)
      }))

    it.effect("a named node is checked against the cluster's nodes", () =>
      Effect.gen(function*() {
        expect(yield* ownershipVia({ mode: "node", node: "pve2" })).toMatchObject({
          _tag: "Right",
          right: { node: "pve2" }
        })
        const typo = yield* ownershipVia({ mode: "node", node: "pve9" })
        expect(typo._tag).toBe("Left")
        if (typo._tag === "Left") {
          expect(typo.left._tag).toBe("NodeScopeUnknown")
          expect(typo.left.message).toContain(`node "pve9" is not a node of this cluster (PVE lists: pve1, pve2, pve3)`)
        }
      }))
  })

  it.layer(Sim.layer({ nodes: NODES, tokens: [AUDIT_ONLY] }))((it) => {
    it.effect("a token that may not read /cluster/status gets an error that says what to do", () =>
      Effect.gen(function*() {
        const owned = yield* ownershipVia({ mode: "node" }, "pve2", AUDIT_ONLY)
        expect(owned._tag).toBe("Left")
        if (owned._tag === "Left") {
          expect(owned.left.message).toMatch(
            /^cannot tell which PVE node this agent runs on: PVE refused GET \/cluster\/status/
          )
          expect(owned.left.message).toContain("Sys.Audit on /")
          expect(owned.left.message).toContain("FELHOM_NODE")
        }
      }))
  })
})

describe("NodeScope on a standalone host", () => {
  it.layer(Sim.layer({}))((it) => {
    it.effect("the host's own node entry is the local one", () =>
      Effect.gen(function*() {
        expect(yield* ownershipVia({ mode: "node" })).toMatchObject({
          _tag: "Right",
          right: { mode: "node", node: "pve1" }
        })
      }))
  })
})

describe("localNode", () => {
  const entry = (name: string, local: number | boolean): ClusterStatusEntry => ({
    type: "node",
    id: `node/${name}`,
    name,
    local
  })
  it("takes the one node marked local, whatever form the flag has", () => {
    expect(localNode([{ type: "cluster", id: "cluster" }, entry("a", 0), entry("b", 1)])).toEqual({
      ok: true,
      value: "b"
    })
    expect(localNode([entry("a", true)])).toEqual({ ok: true, value: "a" })
  })
  it("refuses to guess when none or several are local", () => {
    expect(localNode([entry("a", 0)])).toEqual({ ok: false, reason: "GET /cluster/status marks no node as local" })
    expect(localNode([entry("a", 1), entry("b", 1)])).toEqual({
      ok: false,
      reason: "GET /cluster/status marks 2 nodes as local"
    })
  })
})
