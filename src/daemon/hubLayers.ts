/**
 * The daemon's hub part (docs/hub-protocol.md): the hub client, the hub-backed desired provider
 * and the hub loop, wired to the daemon's signed-op pipeline. Daemon.ts loads this module with
 * `import()` only when `desired.source` is "hub", so every other daemon start leaves src/hub
 * unloaded; the daemon sees the loop only through HubLink.
 */
import { Clock, Effect, Layer, Option } from "effect"
import type { SignedOps } from "../authz/SignedOps.js"
import type { Signers } from "../authz/Signers.js"
import type { AgentConfigShape } from "../config/AgentConfig.js"
import { HubClient } from "../hub/HubClient.js"
import { HubDesiredProvider } from "../hub/HubDesiredProvider.js"
import { HubLoop } from "../hub/HubLoop.js"
import { parseHubUrl } from "../hub/hubToken.js"
import type { OpOutcomeSummary, ReportInput } from "../hub/protocol.js"
import { submitForHub } from "../hub/submitForHub.js"
import type { Pve } from "../pve/Pve.js"
import type { Engine } from "../reconcile/Engine.js"
import { type NodeScope, owns } from "../reconcile/NodeScope.js"
import { NonceStore } from "../state/NonceStore.js"
import { HubLink } from "./HubLink.js"
import { configError, readText, seconds } from "./layers.js"
import type { LastPass } from "./status.js"

/** The hub client's settings (URL, bearer token, CA), checked without connecting. */
export const hubClientSettingsOf = (config: AgentConfigShape) =>
  Effect.gen(function*() {
    const hub = config.settings.hub
    if (hub === undefined) return yield* configError("hub", "is required when desired.source is \"hub\"")
    const url = yield* Effect.mapError(parseHubUrl(hub.url), (reason) => configError("hub.url", reason))
    const token = yield* Option.match(config.hubToken, {
      onNone: () => Effect.fail(configError("hub.tokenFile", "is required (or a systemd credential named hub-token)")),
      onSome: Effect.succeed
    })
    if (hub.caFile !== undefined && hub.fingerprint !== undefined) {
      return yield* configError("hub.fingerprint", "give either hub.fingerprint or hub.caFile, not both")
    }
    const caPem = hub.caFile === undefined ? undefined : yield* readText("hub.caFile", hub.caFile)
    return {
      url,
      agentId: config.settings.agentId,
      token,
      caPem,
      fingerprint: hub.fingerprint,
      requestTimeout: config.settings.pve.requestTimeout
    }
  })

/** What the hub hears about the last pass, including the actions the gate refused. */
const reportOf = (last: LastPass): Effect.Effect<ReportInput> =>
  Effect.gen(function*() {
    const record = yield* last.get
    const pass = Option.map(record.last, (l) => l.pass)
    const failed = Option.map(record.failure, (f) => `the last reconcile pass failed: ${f.message}`)
    const at = yield* Clock.currentTimeMillis
    if (Option.isNone(pass)) {
      return {
        observed: { guests: [], error: Option.getOrElse(failed, () => "no reconcile pass yet") },
        drift: { actions: 0, planned: [] },
        restart_required: [],
        refusals: []
      }
    }
    const { observed, plan, results, ownership } = pass.value
    return {
      scope: { mode: ownership.mode, node: ownership.node ?? null },
      observed: {
        // The guests this agent owns: on a cluster, each node's agent reports its own node's.
        guests: observed.filter((o) => owns(ownership, o.guest.node)).map((o) => ({
          vmid: o.guest.vmid,
          node: o.guest.node,
          type: o.guest.type,
          status: o.status?.status ?? o.guest.status,
          ...(o.guest.name === undefined ? {} : { name: o.guest.name })
        })),
        ...Option.match(failed, { onNone: () => ({}), onSome: (error) => ({ error }) })
      },
      drift: {
        actions: plan.actions.length,
        planned: plan.actions.map((a) => ({
          vmid: a.guest.vmid,
          kind: a._tag,
          summary: `${a._tag} ${a.guest.type}/${a.guest.vmid}`
        }))
      },
      restart_required: plan.restartRequired.map((r) => r.vmid),
      refusals: results.flatMap((r) =>
        r.outcome._tag === "Skipped" && r.outcome.refusedBy !== undefined
          ? [{
            tag: r.outcome.refusedBy,
            message: `${r.action._tag} ${r.action.guest.type}/${r.action.guest.vmid}: ${r.outcome.reason}`,
            at
          }]
          : []
      )
    }
  })

/**
 * The hub's layers, its settings checked first (a bad hub URL, token or CA stops the daemon
 * before anything starts). `desired` is one layer value, so the reconciler's DesiredProvider and
 * the loop's HubDesired are one service; `link` takes the daemon's own SignedOps layer for the
 * same reason: ops from the hub and from the control socket go through one pipeline.
 */
export const hubLayers = (config: AgentConfigShape, signers: Signers, lastPass: LastPass) =>
  Effect.map(hubClientSettingsOf(config), (client) => {
    const { settings } = config
    const desired = HubDesiredProvider.layer({
      agentId: settings.agentId,
      signers,
      skew: seconds(settings.signedOps.skew)
    })
    const link = <E, R>(signed: Layer.Layer<SignedOps, E, R>) =>
      Layer.unwrapEffect(Effect.gen(function*() {
        const services = yield* Effect.context<SignedOps | Engine | Pve | NodeScope>()
        const nonces = yield* NonceStore
        const loop = HubLoop.layer({
          agentId: settings.agentId,
          interval: settings.hub?.pollInterval,
          onOp: (envelope): Effect.Effect<OpOutcomeSummary> => Effect.provide(submitForHub(envelope), services),
          report: reportOf(lastPass),
          highWater: nonces.highWater(settings.agentId)
        })
        return Layer.effect(HubLink, Effect.map(HubLoop, ({ run, status }) => ({ run, status }))).pipe(
          Layer.provide(loop)
        )
      })).pipe(Layer.provide(Layer.mergeAll(HubClient.layer(client), desired, signed)))
    return { desired, link }
  })
