/**
 * One agent per node of a simulated three-node cluster, each built as the daemon builds its core
 * (app/Agent.ts CoreLive over app/Stores.ts StoresLive, node scope) with its own state directory,
 * its own API token and its own node's API listener, all reading one desired document that
 * covers every guest. The sim's mutation log says who changed what: each agent's token is its
 * signature.
 */
import { describe, expect, it } from "@effect/vitest"
import { type Context, Effect, Exit, Layer, Logger, LogLevel, Redacted, Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { CoreLive } from "../../src/app/Agent.js"
import { recoverFirst } from "../../src/app/requests.js"
import { StoresLive } from "../../src/app/Stores.js"
import type { DesiredState } from "../../src/domain/DesiredState.js"
import { PveConnection } from "../../src/pve/PveConnection.js"
import { DesiredProvider } from "../../src/reconcile/DesiredProvider.js"
import { Engine } from "../../src/reconcile/Engine.js"
import type { ScopeMode } from "../../src/reconcile/NodeScope.js"
import { observe } from "../../src/reconcile/observe.js"
import { plan } from "../../src/reconcile/plan.js"
import { Reconciler } from "../../src/reconcile/Reconciler.js"
import { revertOp } from "../../src/reconcile/revert.js"
import type { SimGuestSeed, SimTokenSeed } from "../../src/sim/Simulator.js"
import { Journal } from "../../src/state/Journal.js"
import { recover } from "../../src/state/Recovery.js"
import { Sim, simConnection } from "../support/sim.js"

const NODES = ["pve1", "pve2", "pve3"] as const
type Node = (typeof NODES)[number]

const tokenOf = (node: string): SimTokenSeed => ({
  tokenid: `felhom@pve!agent-${node}`,
  secret: `0000000${NODES.indexOf(node as Node) + 1}-1111-2222-3333-444455556666`,
  privileges: [{ path: "/", privs: ["*"], propagate: true }]
})
const OFF_HOST = tokenOf("offhost")

/** Two guests per node (one qemu, one lxc), all stopped, all with the old description. */
const GUESTS: ReadonlyArray<SimGuestSeed> = NODES.flatMap((node, i) => [
  {
    vmid: 100 * (i + 1),
    node,
    type: "qemu" as const,
    status: "stopped" as const,
    config: { name: `vm-${node}`, memory: 512, description: "old" }
  },
  {
    vmid: 100 * (i + 1) + 1,
    node,
    type: "lxc" as const,
    status: "stopped" as const,
    config: {
      hostname: `ct-${node}`,
      memory: 256,
      ostype: "debian",
      rootfs: `local-lvm:vm-${100 * (i + 1) + 1}-disk-0,size=4G`,
      description: "old"
    }
  }
])
const VMIDS = GUESTS.map((g) => g.vmid)
const nodeOf = (vmid: number): string => GUESTS.find((g) => g.vmid === vmid)?.node ?? ""

/** Every guest running with `description`: both within the gate's default allowance. */
const everyGuest = (description: string): DesiredState => ({
  revision: description,
  guests: Object.fromEntries(VMIDS.map((vmid) => [String(vmid), { power: "running", config: { description } }]))
})

const simLayer = () =>
  Sim.layer({ nodes: NODES, guests: GUESTS, tokens: [...NODES.map(tokenOf), OFF_HOST], taskDuration: 5 })

type AgentServices = Layer.Layer.Success<ReturnType<typeof agentLayer>>

const agentLayer = (
  sim: Context.Tag.Service<typeof Sim>,
  node: string,
  token: SimTokenSeed,
  stateDir: string,
  mode: ScopeMode
) =>
  Layer.unwrapEffect(Effect.map(
    Effect.orDie(
      simConnection(sim, {
        url: sim.nodeUrls[node] ?? sim.url,
        token: { tokenId: token.tokenid, secret: Redacted.make(token.secret) }
      })
    ),
    (connection) =>
      CoreLive({ scope: { mode } }).pipe(
        Layer.provideMerge(Layer.succeed(PveConnection, connection)),
        Layer.provideMerge(StoresLive({ stateDir, writer: { command: `agent-${node}` } })),
        Layer.provide(DesiredProvider.Empty)
      )
  ))

interface Agent {
  readonly node: string
  readonly token: string
  /** Runs an effect on this agent's services. */
  readonly run: <A, E>(effect: Effect.Effect<A, E, AgentServices>) => Effect.Effect<A, E>
  /** Stops the agent as a crash would leave it: its services gone, its state directory kept. */
  readonly kill: Effect.Effect<void>
}

/** An agent with its own state directory, removed with the test's scope. */
const startAgent = (node: string, mode: ScopeMode = "node", token: SimTokenSeed = tokenOf(node)) =>
  Effect.gen(function*() {
    const sim = yield* Sim
    const stateDir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), `felhom-${node}-`))),
      (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    )
    const scope = yield* Scope.make()
    yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
    const context = yield* Layer.buildWithScope(agentLayer(sim, node, token, stateDir, mode), scope).pipe(Effect.orDie)
    const agent: Agent = {
      node,
      token: token.tokenid,
      run: (effect) => Effect.provide(effect, context).pipe(Logger.withMinimumLogLevel(LogLevel.None)),
      kill: Scope.close(scope, Exit.void)
    }
    return agent
  })

/** The agents of pve1 and pve2. */
const pve1AndPve2 = Effect.all([startAgent("pve1"), startAgent("pve2")])

/** `agent` (pve1's) journaled "description: new" for lxc 101 and died before sending it. */
const journalUnsent = (agent: Agent, opId: string) =>
  agent.run(Effect.flatMap(Journal, (j) =>
    j.intent({
      opId,
      origin: "planned",
      vmid: 101,
      node: "pve1",
      guestType: "lxc",
      action: "set-config",
      params: { set: { description: "new" }, delete: [] },
      preState: { values: { description: "old" } },
      preDigest: "0123456789abcdef0123456789abcdef01234567",
      inverse: null,
      tokenUser: agent.token
    })))

const pass = (agent: Agent, desired: DesiredState) => agent.run(Effect.flatMap(Reconciler, (r) => r.runWith(desired)))

/** Changes the sim logged on this guest, by kind, with who made them. */
const changesOf = (vmid: number) =>
  Effect.map(
    Sim,
    (sim) => sim.cluster.mutations().filter((m) => m.vmid === vmid && (m.kind === "config" || m.kind === "start"))
  )

const journalVmids = (agent: Agent) =>
  agent.run(Effect.map(Effect.flatMap(Journal, (j) => j.list({ limit: 1000 })), (ops) => ops.map((o) => o.vmid)))

const expectOneEachBy = (vmid: number, token: string) =>
  Effect.gen(function*() {
    const changes = yield* changesOf(vmid)
    expect(changes.map((c) => c.kind).sort(), `guest ${vmid}`).toEqual(["config", "start"])
    expect(changes.every((c) => c.user === token), `guest ${vmid} changed by ${changes.map((c) => c.user).join(", ")}`)
      .toBe(true)
  })

describe("one agent per node", () => {
  it.scopedLive(
    "three agents, one document: each change is made once, by the agent of the guest's node",
    () =>
      Effect.gen(function*() {
        const agents = yield* Effect.forEach(NODES, (node) => startAgent(node))
        const desired = everyGuest("new")
        const passes = yield* Effect.forEach(agents, (a) => pass(a, desired), { concurrency: "unbounded" })
        for (const [i, p] of passes.entries()) {
          const node = NODES[i] ?? ""
          const own = VMIDS.filter((v) => nodeOf(v) === node)
          expect([...new Set(p.plan.actions.map((a) => a.guest.vmid))]).toEqual(own)
          expect(p.plan.elsewhere).toEqual(
            VMIDS.filter((v) => nodeOf(v) !== node).map((vmid) => ({ vmid, node: nodeOf(vmid) }))
          )
          expect(p.plan.missing).toEqual([])
          expect(p.results.every((r) => r.outcome._tag === "Applied")).toBe(true)
        }
        for (const vmid of VMIDS) yield* expectOneEachBy(vmid, tokenOf(nodeOf(vmid)).tokenid)
        // Each journal tells its own node's story only.
        for (const a of agents) expect((yield* journalVmids(a)).every((v) => nodeOf(v) === a.node)).toBe(true)
        // Converged everywhere: the next passes plan nothing.
        const again = yield* Effect.forEach(agents, (a) => pass(a, desired), { concurrency: "unbounded" })
        expect(again.map((p) => p.plan.actions.length)).toEqual([0, 0, 0])
      }).pipe(Effect.provide(simLayer())),
    60_000
  )

  it.scopedLive(
    "a killed agent's node is left alone: the others keep theirs and never touch its guests",
    () =>
      Effect.gen(function*() {
        const [one, two, three] = yield* Effect.forEach(NODES, (node) => startAgent(node))
        if (one === undefined || two === undefined || three === undefined) return yield* Effect.die("three agents")
        yield* three.kill
        const survivors = yield* Effect.forEach([one, two], (a) => pass(a, everyGuest("new")), {
          concurrency: "unbounded"
        })
        expect(survivors.flatMap((p) => p.plan.elsewhere.filter((e) => e.node === "pve3").map((e) => e.vmid))).toEqual([
          300,
          301,
          300,
          301
        ])
        for (const vmid of [300, 301]) expect(yield* changesOf(vmid)).toEqual([])
        for (const vmid of [100, 101, 200, 201]) yield* expectOneEachBy(vmid, tokenOf(nodeOf(vmid)).tokenid)
      }).pipe(Effect.provide(simLayer())),
    60_000
  )

  it.scopedLive(
    "a guest migrating mid-change: skipped while locked, then changed once, by its new node's agent",
    () =>
      Effect.gen(function*() {
        const sim = yield* Sim
        const [one, two] = yield* pve1AndPve2
        const desired: DesiredState = {
          revision: "r1",
          guests: { 101: { power: "running", config: { description: "new" } } }
        }
        // pve1's agent had journaled this change and died before sending it.
        yield* journalUnsent(one, "op-before-migration")
        const migration = sim.cluster.beginMigration(101, "pve2")
        expect(migration._tag).toBe("Right")
        const locked = yield* Effect.forEach([one, two], (a) => pass(a, desired))
        expect(locked[0]?.plan.skipped).toEqual([{
          vmid: 101,
          reason: "locked (migrate): retry once PVE releases the lock"
        }])
        expect(locked[1]?.plan.elsewhere).toEqual([{ vmid: 101, node: "pve1" }])
        expect(yield* changesOf(101)).toEqual([])

        expect(sim.cluster.finishMigration(101)._tag).toBe("Right")
        // The old node's agent resolves its op by observing the guest where it lives now.
        const recovered = yield* one.run(recoverFirst)
        expect(recovered.outcomes).toHaveLength(1)
        expect(recovered.outcomes[0]?.detail.message).toContain("not applied")
        const after = yield* Effect.forEach([one, two], (a) => pass(a, desired))
        expect(after[0]?.plan.elsewhere).toEqual([{ vmid: 101, node: "pve2" }])
        expect(after[0]?.plan.actions).toEqual([])
        expect(after[1]?.results.map((r) => [r.action._tag, r.outcome._tag])).toEqual([["SetConfig", "Applied"], [
          "Start",
          "Applied"
        ]])
        yield* expectOneEachBy(101, two.token)
        expect(yield* one.run(Effect.flatMap(Journal, (j) => j.unfinished))).toEqual([])
      }).pipe(Effect.provide(simLayer())),
    60_000
  )

  it.scopedLive(
    "a guest migrating between plan and write: the write to the old node is refused, nothing lands twice",
    () =>
      Effect.gen(function*() {
        const sim = yield* Sim
        const [one, two] = yield* pve1AndPve2
        const desired: DesiredState = { revision: "r1", guests: { 100: { config: { description: "new" } } } }
        const planned = yield* one.run(
          Effect.map(observe(desired, {}, "pve1"), (observed) => plan(desired, observed, { node: "pve1" }))
        )
        const action = planned.actions[0]
        if (action === undefined) return yield* Effect.die("one action")
        expect(sim.cluster.beginMigration(100, "pve2")._tag).toBe("Right")
        expect(sim.cluster.finishMigration(100)._tag).toBe("Right")
        const result = yield* one.run(
          Effect.flatMap(Engine, (engine) => engine.run(action, { revision: planned.revision }))
        )
        expect(result.outcome._tag).toBe("Failed")
        expect(yield* changesOf(100)).toEqual([])
        expect(yield* one.run(Effect.flatMap(Journal, (j) => j.unfinished))).toEqual([])
        const next = yield* pass(two, desired)
        expect(next.results.map((r) => r.outcome._tag)).toEqual(["Applied"])
        expect((yield* changesOf(100)).map((c) => c.user)).toEqual([two.token])
      }).pipe(Effect.provide(simLayer())),
    60_000
  )

  it.scopedLive(
    "revert after a migration: refused for another node's guest, runs on the new node in cluster scope",
    () =>
      Effect.gen(function*() {
        const sim = yield* Sim
        const one = yield* startAgent("pve1")
        const offHost = yield* startAgent("pve1", "cluster", OFF_HOST)
        const done = yield* pass(one, { guests: { 100: { config: { description: "changed" } } } })
        const mine = yield* pass(offHost, { guests: { 101: { config: { description: "changed" } } } })
        expect([done.results[0]?.outcome._tag, mine.results[0]?.outcome._tag]).toEqual(["Applied", "Applied"])
        for (const vmid of [100, 101]) {
          expect(sim.cluster.beginMigration(vmid, "pve3")._tag).toBe("Right")
          expect(sim.cluster.finishMigration(vmid)._tag).toBe("Right")
        }
        // Node scope: pve3's guest is pve3's agent's; this one says so and writes nothing.
        const refused = yield* one.run(Effect.flip(revertOp(done.results[0]?.opId ?? "")))
        expect(refused).toMatchObject({ _tag: "RevertRefused", reason: "guest-elsewhere" })
        expect(refused.message).toContain("guest 100 lives on node pve3 now, and this agent manages node pve1 only")
        // Cluster scope: the inverse goes to the node the guest lives on now.
        const undone = yield* offHost.run(revertOp(mine.results[0]?.opId ?? ""))
        expect(undone.outcome._tag).toBe("Applied")
        expect(undone.action.guest.node).toBe("pve3")
        const views = [sim.cluster.view(100), sim.cluster.view(101)]
        expect(views.map((v) => v._tag === "Right" ? [v.right.node, v.right.config["description"]] : [])).toEqual([
          ["pve3", "changed"],
          ["pve3", "old"]
        ])
      }).pipe(Effect.provide(simLayer())),
    60_000
  )

  it.scopedLive(
    "an op the old node journaled, whose change the new node's agent made: left to the operator, not claimed",
    () =>
      Effect.gen(function*() {
        const sim = yield* Sim
        const [one, two] = yield* pve1AndPve2
        const desired: DesiredState = { revision: "r1", guests: { 101: { config: { description: "new" } } } }
        yield* journalUnsent(one, "op-raced")
        expect(sim.cluster.beginMigration(101, "pve2")._tag).toBe("Right")
        expect(sim.cluster.finishMigration(101)._tag).toBe("Right")
        const applied = yield* pass(two, desired)
        expect(applied.results.map((r) => r.outcome._tag)).toEqual(["Applied"])
        const recovered = yield* one.run(Effect.flatMap(Engine, (engine) =>
          recover({ checkPostState: engine.checkPostState, undecidable: engine.undecidable })))
        expect(recovered.outcomes.map((o) =>
          o.resolution
        )).toEqual(["needs-operator"])
        expect(recovered.outcomes[0]?.detail.message).toContain(
          "guest 101 moved to node pve2, which shows the change; whether this op or pve2's agent made it cannot be told"
        )
      }).pipe(Effect.provide(simLayer())),
    60_000
  )

  it.scopedLive("cluster scope: one off-host agent owns every guest of every node", () =>
    Effect.gen(function*() {
      const offHost = yield* startAgent("pve1", "cluster", OFF_HOST)
      const p = yield* pass(offHost, everyGuest("new"))
      expect(p.plan.elsewhere).toEqual([])
      expect(p.ownership).toEqual({ mode: "cluster", node: undefined })
      for (const vmid of VMIDS) yield* expectOneEachBy(vmid, OFF_HOST.tokenid)
    }).pipe(Effect.provide(simLayer())), 60_000)
})
