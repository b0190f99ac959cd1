/**
 * `felhom-agent status`: what the running daemon is doing, in its own words, answered over the
 * control socket — readiness (and why not), the PVE endpoint, the last reconcile pass (when,
 * how long, actions by outcome, what drifts and why, what waits for a restart, what the gate
 * refused), the ops in flight and those waiting for an operator (with the evidence), the hub
 * loop's health and the desired revision in force.
 */
import { Clock, Effect, Option, type Ref } from "effect"
import type { CommandOutput } from "../app/requests.js"
import { Pve } from "../pve/Pve.js"
import { NodeScope } from "../reconcile/NodeScope.js"
import { describeOutcome, isSuccess } from "../reconcile/Outcome.js"
import type { PassResult } from "../reconcile/Reconciler.js"
import { Journal } from "../state/Journal.js"
import { Readiness } from "./Health.js"
import { HubLink } from "./HubLink.js"

export interface AgentStatus {
  readonly pid: number
  readonly agentId: string
  readonly stateDir: string
  readonly ready: boolean
  readonly notReadyReason: string | null
  readonly pve: { readonly url: string; readonly version: string | null; readonly error: string | null }
  /** The guests this agent owns: one node's (node scope) or every node's (cluster scope). */
  readonly scope: { readonly mode: "node" | "cluster"; readonly node: string | null; readonly error: string | null }
  /** The latest pass could not complete: why, and when (ISO). Cleared by the next good pass. */
  readonly lastFailure: { readonly at: string; readonly message: string } | null
  readonly lastPass: {
    readonly at: string
    readonly durationMillis: number
    /** PVE requests sent while the pass ran. */
    readonly pveRequests: number
    readonly revision: string | null
    readonly actions: number
    readonly outcomes: Readonly<Record<string, number>>
    readonly notApplied: ReadonlyArray<{ readonly vmid: number; readonly action: string; readonly reason: string }>
    readonly restartRequired: ReadonlyArray<{ readonly vmid: number; readonly keys: ReadonlyArray<string> }>
    readonly skipped: ReadonlyArray<{ readonly vmid: number; readonly reason: string }>
  } | null
  readonly ops: {
    readonly inFlight: ReadonlyArray<
      {
        readonly opId: string
        readonly vmid: number
        readonly action: string
        readonly phase: string
        readonly upid: string | null
      }
    >
    readonly needsOperator: ReadonlyArray<
      { readonly opId: string; readonly vmid: number; readonly action: string; readonly evidence: string }
    >
  }
  readonly hub: {
    readonly consecutiveFailures: number
    readonly lastError: string | null
    readonly lastSuccessAt: string | null
  } | null
}

const iso = (ms: number): string => new Date(ms).toISOString()

/** The last reconcile pass and when it ended: kept by the daemon for `status` and the hub's report. */
/** The last pass that completed, and the failure of any pass since (cleared by the next good one). */
export interface PassRecord {
  readonly last: Option.Option<{ readonly pass: PassResult; readonly at: number }>
  readonly failure: Option.Option<{ readonly message: string; readonly at: number }>
}
export type LastPass = Ref.Ref<PassRecord>

export const noPassYet: PassRecord = { last: Option.none(), failure: Option.none() }

export interface StatusSource {
  readonly agentId: string
  readonly stateDir: string
  readonly pveUrl: string
  readonly lastPass: LastPass
}

/** Gathers the status from the daemon's services; a PVE that does not answer is reported, not fatal. */
export const gatherStatus = (source: StatusSource) =>
  Effect.gen(function*() {
    const readiness = yield* (yield* Readiness).current
    const journal = yield* Journal
    const pve = yield* Pve
    const nodeScope = yield* NodeScope
    // Both may wait on PVE: asked at once, each bounded, so a hanging PVE costs status 5 s, not 2x
    // the request timeout.
    const [version, scope] = yield* Effect.all([
      pve.version.pipe(
        Effect.timeout("5 seconds"),
        Effect.map((v) => ({ version: v.version, error: null })),
        Effect.catchAll((e) => Effect.succeed({ version: null, error: e.message }))
      ),
      nodeScope.current.pipe(
        Effect.timeout("5 seconds"),
        Effect.map((o) => ({ mode: o.mode, node: o.node ?? null, error: null })),
        Effect.catchAll((e) => Effect.succeed({ mode: nodeScope.mode, node: null, error: e.message }))
      )
    ], { concurrency: "unbounded" })
    const unfinished = yield* journal.unfinished
    const flagged = yield* journal.list({ phase: "needs-operator", limit: 100 })
    const hub = yield* Effect.serviceOption(HubLink)
    const hubStatus = yield* Option.match(hub, {
      onNone: () => Effect.succeed(null),
      onSome: (h) => Effect.map(h.status, Option.some)
    })
    const record = yield* source.lastPass.get
    const last = Option.getOrNull(record.last)
    const lastPass: AgentStatus["lastPass"] = last === null ? null : (() => {
      const outcomes: Record<string, number> = {}
      for (const r of last.pass.results) outcomes[r.outcome._tag] = (outcomes[r.outcome._tag] ?? 0) + 1
      return {
        at: iso(last.at),
        durationMillis: last.pass.durationMillis,
        pveRequests: last.pass.pveRequests,
        revision: last.pass.plan.revision ?? null,
        actions: last.pass.plan.actions.length,
        outcomes,
        notApplied: last.pass.results.filter((r) => !isSuccess(r.outcome)).map((r) => ({
          vmid: r.action.guest.vmid,
          action: r.action._tag,
          reason: describeOutcome(r.outcome)
        })),
        restartRequired: last.pass.plan.restartRequired.map((p) => ({ vmid: p.vmid, keys: p.keys })),
        skipped: last.pass.plan.skipped.map((s) => ({ vmid: s.vmid, reason: s.reason }))
      }
    })()
    const status: AgentStatus = {
      pid: process.pid,
      agentId: source.agentId,
      stateDir: source.stateDir,
      ready: readiness.ready,
      notReadyReason: readiness.ready ? null : readiness.reason,
      pve: { url: source.pveUrl, ...version },
      scope,
      lastFailure: Option.getOrNull(Option.map(record.failure, (f) => ({ at: iso(f.at), message: f.message }))),
      lastPass,
      ops: {
        inFlight: unfinished.map((o) => ({
          opId: o.opId,
          vmid: o.vmid,
          action: o.action,
          phase: o.phase,
          upid: o.upid
        })),
        needsOperator: flagged.map((o) => ({
          opId: o.opId,
          vmid: o.vmid,
          action: o.action,
          evidence: o.detail?.message ?? ""
        }))
      },
      hub: hubStatus === null || Option.isNone(hubStatus) ? null : {
        consecutiveFailures: hubStatus.value.consecutiveFailures,
        lastError: hubStatus.value.lastError ?? null,
        lastSuccessAt: hubStatus.value.lastSuccessAt === undefined ? null : iso(hubStatus.value.lastSuccessAt)
      }
    }
    const now = yield* Clock.currentTimeMillis
    return { exitCode: 0, text: renderStatus(status, now), json: status } satisfies CommandOutput
  })

const ago = (at: string, now: number): string => {
  const seconds = Math.max(0, Math.round((now - Date.parse(at)) / 1000))
  return seconds < 120 ? `${seconds}s ago` : `${Math.round(seconds / 60)}m ago`
}

const scopeLine = (scope: AgentStatus["scope"]): string => {
  if (scope.mode === "cluster") return "cluster (every guest of the cluster; run exactly one such agent)"
  return scope.node === null
    ? `node (not known yet: ${scope.error ?? ""})`
    : `node ${scope.node} (the guests on this node only)`
}

/** The human form: a few lines an operator reads at 3 a.m. */
export const renderStatus = (s: AgentStatus, now: number): string => {
  const lines = [
    `felhom-agent ${s.agentId} (PID ${s.pid}): ${s.ready ? "ready" : `NOT READY: ${s.notReadyReason ?? ""}`}`,
    `  PVE:        ${s.pve.url} ${
      s.pve.version === null ? `(not answering: ${s.pve.error ?? ""})` : `(version ${s.pve.version})`
    }`,
    `  scope:      ${scopeLine(s.scope)}`,
    `  state dir:  ${s.stateDir}`
  ]
  if (s.lastFailure !== null) lines.push(`  last pass:  FAILED ${ago(s.lastFailure.at, now)}: ${s.lastFailure.message}`)
  if (s.lastPass === null) lines.push(s.lastFailure === null ? "  last pass:  none yet" : "  good pass:  none yet")
  else {
    const p = s.lastPass
    const outcomes = Object.entries(p.outcomes).map(([k, n]) => `${n} ${k}`).join(", ")
    lines.push(
      `  ${s.lastFailure === null ? "last pass: " : "good pass: "} ${
        ago(p.at, now)
      }, ${p.durationMillis} ms, ${p.pveRequests} PVE call(s), revision ${p.revision ?? "-"}, ${p.actions} action(s)${
        outcomes === "" ? "" : `: ${outcomes}`
      }`
    )
    for (const n of p.notApplied) lines.push(`    ✗ ${n.vmid} ${n.action}: ${n.reason}`)
    for (const k of p.skipped) lines.push(`    ! ${k.vmid} skipped: ${k.reason}`)
    for (const r of p.restartRequired) lines.push(`    ↻ ${r.vmid} restart required: ${r.keys.join(", ")}`)
  }
  lines.push(`  ops:        ${s.ops.inFlight.length} in flight, ${s.ops.needsOperator.length} waiting for an operator`)
  for (const o of s.ops.inFlight) {
    lines.push(`    … ${o.opId.slice(0, 12)} ${o.action} ${o.vmid} ${o.phase}${o.upid === null ? "" : ` ${o.upid}`}`)
  }
  for (const o of s.ops.needsOperator) lines.push(`    ? ${o.opId.slice(0, 12)} ${o.action} ${o.vmid}: ${o.evidence}`)
  if (s.hub !== null) {
    lines.push(
      s.hub.consecutiveFailures === 0
        ? `  hub:        reachable${
          s.hub.lastSuccessAt === null ? "" : `, last contact ${ago(s.hub.lastSuccessAt, now)}`
        }`
        : `  hub:        UNREACHABLE (${s.hub.consecutiveFailures} failed polls): ${s.hub.lastError ?? ""}`
    )
  }
  return lines.join("\n")
}
