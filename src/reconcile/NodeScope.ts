/**
 * Which guests this agent owns. In node scope (the default: one agent per PVE node) it owns the
 * guests that live on its own node now, and no other: three agents on a three-node cluster each
 * act on their own node's guests, so no change is attempted twice and each journal tells the
 * story of one node. In cluster scope (one agent for the whole cluster, run off-host) it owns
 * every guest — and exactly one such agent may run.
 *
 * The node is learned from PVE, not from our host name: GET /cluster/status marks the node that
 * answered the request `local` (pve-manager `PVE::API2::Cluster::status`), which is this host
 * when the agent talks to its own pveproxy. A `node` setting names it instead, for a token
 * without `Sys.Audit` on `/`; it is checked against GET /nodes so a typo cannot make the agent
 * quietly own nothing. Learned once, kept for the process's life: a PVE node is not renamed
 * while it runs guests. A failed lookup is not kept, so the next pass asks again.
 */
import { Config, type ConfigError, Context, Effect, Layer, Option, Ref, Schema } from "effect"
import type { ClusterStatusEntry } from "../domain/Cluster.js"
import { Pve } from "../pve/Pve.js"
import type { PveError } from "../pve/PveError.js"

export const ScopeMode = Schema.Literal("node", "cluster")
export type ScopeMode = typeof ScopeMode.Type

/** What this agent owns: the guests of `node`, or (cluster scope, `node` absent) every guest. */
export interface Ownership {
  readonly mode: ScopeMode
  readonly node: string | undefined
}

export const clusterWide: Ownership = { mode: "cluster", node: undefined }

/** Whether a guest living on `node` is this agent's to read and write. */
export const owns = (ownership: Ownership, node: string): boolean =>
  ownership.node === undefined || ownership.node === node

export class NodeScopeUnknown extends Schema.TaggedError<NodeScopeUnknown>()("NodeScopeUnknown", {
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot tell which PVE node this agent runs on: ${this.reason}`
  }
}

export interface NodeScopeShape {
  readonly mode: ScopeMode
  /** This agent's ownership; the first call asks PVE, later calls answer from memory. */
  readonly current: Effect.Effect<Ownership, PveError | NodeScopeUnknown>
}

export interface NodeScopeOptions {
  readonly mode: ScopeMode
  /** This host's PVE node name, when the token may not read GET /cluster/status. */
  readonly node?: string | undefined
}

/**
 * The scope from the environment, for the CLI's commands (the daemon reads its settings):
 * FELHOM_SCOPE (`node`, the default, or `cluster`) and FELHOM_NODE.
 */
export const nodeScopeConfig: Effect.Effect<NodeScopeOptions, ConfigError.ConfigError> = Config.all({
  mode: Config.literal("node", "cluster")("FELHOM_SCOPE").pipe(Config.withDefault("node" as const)),
  node: Config.string("FELHOM_NODE").pipe(Config.option, Config.map(Option.getOrUndefined))
})

const isSet = (flag: number | boolean | undefined): boolean => flag === 1 || flag === true

type Found<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly reason: string }

/** The one node entry marked `local`, or why there is none. */
export const localNode = (entries: ReadonlyArray<ClusterStatusEntry>): Found<string> => {
  const local = entries.filter((e) => e.type === "node" && isSet(e.local))
  const [only, ...more] = local
  if (only === undefined) return { ok: false, reason: "GET /cluster/status marks no node as local" }
  if (more.length > 0) return { ok: false, reason: `GET /cluster/status marks ${local.length} nodes as local` }
  const name = only.name ?? only.id.replace(/^node\//, "")
  return name === "" ? { ok: false, reason: "the local node entry has no name" } : { ok: true, value: name }
}

const HINT =
  "grant the token Sys.Audit on / (for GET /cluster/status), or set `node` (FELHOM_NODE) to this host's node name"

const learn = (options: NodeScopeOptions): Effect.Effect<Ownership, PveError | NodeScopeUnknown, Pve> =>
  Effect.gen(function*() {
    const pve = yield* Pve
    if (options.node !== undefined) {
      const named = options.node
      const nodes = (yield* pve.nodes).map((n) => n.node)
      if (!nodes.includes(named)) {
        return yield* new NodeScopeUnknown({
          reason: `node "${named}" is not a node of this cluster (PVE lists: ${nodes.join(", ")})`
        })
      }
      return { mode: "node", node: named }
    }
    const entries = yield* pve.clusterStatus.pipe(
      Effect.catchTag(
        "PvePermissionDenied",
        () => new NodeScopeUnknown({ reason: `PVE refused GET /cluster/status; ${HINT}` })
      )
    )
    const local = localNode(entries)
    if (!local.ok) return yield* new NodeScopeUnknown({ reason: local.reason })
    return { mode: "node", node: local.value }
  })

export class NodeScope extends Context.Tag("felhom/NodeScope")<NodeScope, NodeScopeShape>() {
  /** Ownership as configured; node scope asks the `Pve` it is given. */
  static readonly layer = (options: NodeScopeOptions): Layer.Layer<NodeScope, never, Pve> =>
    options.mode === "cluster"
      ? NodeScope.cluster
      : Layer.effect(
        NodeScope,
        Effect.gen(function*() {
          const pve = yield* Pve
          const known = yield* Ref.make(Option.none<Ownership>())
          const current = Effect.flatMap(
            Ref.get(known),
            Option.match({
              onSome: Effect.succeed,
              onNone: () =>
                learn(options).pipe(Effect.provideService(Pve, pve), Effect.tap((o) => Ref.set(known, Option.some(o))))
            })
          )
          return { mode: "node", current } satisfies NodeScopeShape
        })
      )

  /** Every guest of the cluster: the one off-host agent, and tests that predate node scope. */
  static readonly cluster: Layer.Layer<NodeScope> = Layer.succeed(NodeScope, {
    mode: "cluster",
    current: Effect.succeed(clusterWide)
  })
}
