/**
 * The PVE API simulator (docs/simulator.md): an in-memory cluster served over real
 * HTTP(S) on loopback, one API listener per node (each node's pveproxy), plus a control API
 * for tests. `startSimulator` is a scoped resource: every server and task timer stops when the
 * scope closes.
 */
import { Data, Effect, Redacted, type Scope } from "effect"
import { listen, type Listener } from "../net/listen.js"
import { SimCluster } from "./Cluster.js"
import { createControlServer } from "./ControlServer.js"
import { createApiServer } from "./HttpServer.js"
import { formats } from "./Params.js"
import { Prng } from "./Prng.js"
import type { SimGuestSeed, SimTokenSeed } from "./Seeds.js"
import { generateTls, type SimTls } from "./Tls.js"

export type { SimMutation } from "./Cluster.js"
export { SimCluster } from "./Cluster.js"
export { SimControlError } from "./ControlError.js"
export type { SimFaults } from "./Faults.js"
export type { SimGuestView } from "./GuestView.js"
export type { FinishOptions, SimMigration } from "./Migrate.js"
export type { SimGuestSeed, SimSnapshotSeed, SimTokenSeed } from "./Seeds.js"

export interface SimOptions {
  readonly seed?: number
  readonly https?: boolean
  readonly host?: string
  /**
   * The first node's API port (0 or absent = any free port). Node i (from 0) listens on
   * `port + i` when a port is given, else on its own free port.
   */
  readonly port?: number
  readonly controlPort?: number
  /** Node names, default ["pve1"]; each gets its own API listener (`nodeUrls`). */
  readonly nodes?: ReadonlyArray<string>
  readonly guests?: ReadonlyArray<SimGuestSeed> | number
  readonly tokens?: ReadonlyArray<SimTokenSeed>
  readonly taskDuration?: number
  readonly authFailureDelay?: number
  readonly idleTimeout?: number
  readonly statsDelay?: number
  /**
   * ms between simulated pvestatd stats pushes (pve-manager `PVE::Service::pvestatd`, ~10 000 on
   * real PVE): status,
   * name and template in /cluster/resources show the value as of the last push. 0 (default) =
   * always fresh. status/current and /nodes/N/{qemu,lxc} are live either way.
   */
  readonly statsStaleness?: number
  readonly tagStyle?: { readonly caseSensitive?: boolean; readonly ordering?: "alphabetical" | "config" }
  /**
   * ms a config write (or a task) waits for a guest's config flock held by a running power or
   * config task before failing with "can't lock file … - got timeout". Default 10 000, PVE's
   * `lock_config` timeout.
   */
  readonly flockTimeout?: number
  /** ms per simulated HA manager round for HA-managed guests (PVE: ~10 000). Default: taskDuration. */
  readonly haRound?: number
}

export interface RunningSim {
  /** The first node's listener. */
  readonly url: string
  /** Every node's listener: node name → base URL. GET /cluster/status on it says `local` for that node. */
  readonly nodeUrls: Readonly<Record<string, string>>
  readonly controlUrl: string
  readonly fingerprint: string
  readonly caPem: string
  readonly tokenId: string
  readonly tokenSecret: Redacted.Redacted<string>
  readonly cluster: SimCluster
}

export class SimStartError extends Data.TaggedError("SimStartError")<{ readonly message: string }> {}

export const DEFAULT_TOKEN_ID = "felhom@pve!agent"

const listenOrFail = (
  server: Listener,
  host: string,
  port: number,
  cut?: () => void
): Effect.Effect<number, SimStartError, Scope.Scope> =>
  Effect.mapError(listen(server, { host, port }, cut), (e) => new SimStartError({ message: e.message }))

const urlHost = (host: string): string => (host.includes(":") ? `[${host}]` : host)

/** What GET /cluster/status shows as every node's `ip`: the listen address, loopback for a wildcard. */
const listenerIp = (host: string): string => (host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host)

const checkNodes = (nodes: ReadonlyArray<string>): string | undefined => {
  if (nodes.length === 0) return "at least one node is required"
  const bad = nodes.find((n) => formats.node(n) !== undefined)
  if (bad !== undefined) return `invalid node name '${bad}'`
  const twice = nodes.find((n, i) => nodes.indexOf(n) !== i)
  return twice === undefined ? undefined : `node '${twice}' is listed twice`
}

export const startSimulator = (options: SimOptions = {}): Effect.Effect<RunningSim, SimStartError, Scope.Scope> =>
  Effect.gen(function*() {
    const seed = options.seed ?? 1
    const useHttps = options.https ?? true
    const host = options.host ?? "127.0.0.1"
    // The default token's secret comes from its own stream so it does not shift guest randomness.
    const secretRng = new Prng(seed ^ 0x5eed)
    const defaultSecret = `${secretRng.hex(4)}-${secretRng.hex(2)}-${secretRng.hex(2)}-${secretRng.hex(2)}-${
      secretRng.hex(6)
    }`.toLowerCase()
    const tokens: ReadonlyArray<SimTokenSeed> = options.tokens ?? [
      {
        tokenid: DEFAULT_TOKEN_ID,
        secret: defaultSecret,
        privsep: true,
        privileges: [{ path: "/", privs: ["*"], propagate: true }]
      }
    ]
    const first = tokens[0]
    if (first === undefined) return yield* new SimStartError({ message: "at least one token is required" })
    const nodes = options.nodes ?? ["pve1"]
    const nodeError = checkNodes(nodes)
    if (nodeError !== undefined) return yield* new SimStartError({ message: nodeError })
    const tls: SimTls | undefined = useHttps
      ? yield* Effect.try({
        try: generateTls,
        catch: (e) => new SimStartError({ message: `TLS generation failed: ${String(e)}` })
      })
      : undefined
    const cluster = yield* Effect.acquireRelease(
      Effect.sync(
        () =>
          new SimCluster({
            seed,
            nodes,
            guests: options.guests ?? [],
            tokens,
            taskDuration: options.taskDuration ?? 50,
            statsDelay: options.statsDelay ?? 0,
            statsStaleness: options.statsStaleness ?? 0,
            tagStyle: options.tagStyle ?? {},
            flockTimeout: options.flockTimeout ?? 10_000,
            haRound: options.haRound ?? options.taskDuration ?? 50,
            address: listenerIp(host)
          })
      ),
      (c) => Effect.sync(() => c.dispose())
    )
    if (cluster.seedError !== undefined) return yield* new SimStartError({ message: cluster.seedError })
    cluster.fingerprint = tls?.fingerprint ?? ""
    const scheme = useHttps ? "https" : "http"
    const basePort = options.port ?? 0
    const nodeUrls: Record<string, string> = {}
    for (const [i, node] of nodes.entries()) {
      const api = createApiServer(cluster, {
        node,
        tls,
        idleTimeout: options.idleTimeout ?? 5000,
        authFailureDelay: options.authFailureDelay ?? 3000
      })
      const port = yield* listenOrFail(api.server, host, basePort === 0 ? 0 : basePort + i, api.closeAllConnections)
      nodeUrls[node] = `${scheme}://${urlHost(host)}:${port}`
    }
    const control = createControlServer(cluster)
    const controlPort = yield* listenOrFail(control, host, options.controlPort ?? 0)
    return {
      url: nodeUrls[nodes[0] ?? ""] ?? "",
      nodeUrls,
      controlUrl: `http://${urlHost(host)}:${controlPort}`,
      fingerprint: tls?.fingerprint ?? "",
      caPem: tls?.caPem ?? "",
      tokenId: first.tokenid,
      tokenSecret: Redacted.make(first.secret),
      cluster
    }
  })
