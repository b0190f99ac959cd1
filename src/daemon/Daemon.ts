/**
 * runDaemon: the composition root. Start-up order is the safety argument (docs/architecture.md,
 * invariant 5): configuration (a bad one stops everything before it starts) → state database → journal
 * recovery against PVE → ready. Only then do the reconciler and the hub loop take work.
 * SIGTERM: not ready, stop taking work, let in-flight ops reach a journaled phase (bounded by
 * `shutdownGrace`), exit 0. Whatever is still running then is in the journal with its UPID
 * and is resolved by the next start's recovery.
 */
import { Clock, Deferred, Duration, Effect, Either, Fiber, Layer, Option, Ref, Schedule } from "effect"
import { CoreLive } from "../app/Agent.js"
import { applyRequest, type CommandOutput, revertRequest, selftestRequest, submitRequest } from "../app/requests.js"
import type { Selftest } from "../selftest/Selftest.js"
import { StoresLive } from "../app/Stores.js"
import type { SignedOps } from "../authz/SignedOps.js"
import { submitForHub } from "../hub/submitForHub.js"
import { decodeDesiredState } from "../domain/DesiredState.js"
import type { AgentConfigShape } from "../config/AgentConfig.js"
import { HubClient } from "../hub/HubClient.js"
import { HubLoop } from "../hub/HubLoop.js"
import type { OpOutcomeSummary, ReportInput } from "../hub/protocol.js"
import { Pve } from "../pve/Pve.js"
import { PveConnection } from "../pve/PveConnection.js"
import { Engine } from "../reconcile/Engine.js"
import { GuestQueue } from "../reconcile/GuestQueue.js"
import { NodeScope, owns } from "../reconcile/NodeScope.js"
import { type PassResult, Reconciler } from "../reconcile/Reconciler.js"
import { type Described, serveControl } from "./ControlServer.js"
import { gatherStatus, type StatusSource } from "./status.js"
import type { ControlRequest } from "./controlProtocol.js"
import { Journal } from "../state/Journal.js"
import { NonceStore } from "../state/NonceStore.js"
import { recover } from "../state/Recovery.js"
import { Liveness, Readiness } from "./Health.js"
import { HealthServer, parseListen } from "./HealthServer.js"
import {
  checkDesiredFile,
  desiredLayer,
  hubClientSettingsOf,
  hubDesiredLayer,
  pveConnectionOf,
  seconds,
  signedOpsLayer,
  signersOf
} from "./layers.js"
import { recordJournalPhases, recordNonceFill } from "../domain/Metrics.js"
import { SdNotify, SystemdLifecycle } from "./SdNotify.js"
import { tracingLayer } from "./Tracing.js"
import { Watchdog } from "./Watchdog.js"

/** Recovery must settle every op before readiness; an unresolved one is retried, never skipped. */
const recoverUntilSettled = (deadline: Duration.Duration) =>
  Effect.gen(function*() {
    const engine = yield* Engine
    const readiness = yield* Readiness
    const sd = yield* SdNotify
    const attempt = Effect.gen(function*() {
      const summary = yield* recover({ checkPostState: engine.checkPostState, undecidable: engine.undecidable, waitDeadline: deadline })
      yield* Effect.logInfo("journal recovery").pipe(Effect.annotateLogs({ ...summary.counts, total: summary.total }))
      if (summary.counts.unresolved === 0) return true
      const reason = `${summary.counts.unresolved} op(s) could not be resolved against PVE yet; retrying`
      yield* readiness.markNotReady(reason)
      yield* sd.status(reason)
      return false
    })
    yield* Effect.repeat(attempt, { until: (settled) => settled, schedule: Schedule.exponential("5 seconds").pipe(Schedule.union(Schedule.spaced("1 minute"))) })
  })

/** What the hub hears about the last pass, including the actions the gate refused. */
const reportOf = (last: LastPass): Effect.Effect<ReportInput> =>
  Effect.gen(function*() {
    const pass = Option.map(yield* Ref.get(last), (l) => l.pass)
    const at = yield* Clock.currentTimeMillis
    if (Option.isNone(pass)) {
      return { observed: { guests: [], error: "no reconcile pass yet" }, drift: { actions: 0, planned: [] }, restart_required: [], refusals: [] }
    }
    const { observed, plan, results, ownership } = pass.value
    return {
      scope: { mode: ownership.mode, node: ownership.node ?? null },
      observed: {
        // The guests this agent owns: on a cluster, each node's agent reports its own node's.
        guests: observed.filter((o) => owns(ownership, o.guest.node)).map((o) => ({
          vmid: o.guest.vmid, node: o.guest.node, type: o.guest.type, status: o.status?.status ?? o.guest.status,
          ...(o.guest.name === undefined ? {} : { name: o.guest.name })
        }))
      },
      drift: {
        actions: plan.actions.length,
        planned: plan.actions.map((a) => ({ vmid: a.guest.vmid, kind: a._tag, summary: `${a._tag} ${a.guest.type}/${a.guest.vmid}` }))
      },
      restart_required: plan.restartRequired.map((r) => r.vmid),
      refusals: results.flatMap((r) =>
        r.outcome._tag === "Skipped" && r.outcome.refusedBy !== undefined
          ? [{ tag: r.outcome.refusedBy, message: `${r.action._tag} ${r.action.guest.type}/${r.action.guest.vmid}: ${r.outcome.reason}`, at }]
          : [])
    }
  })

/**
 * Waits until no guest job is queued or running, at most `grace`. It runs in a finalizer,
 * i.e. uninterruptibly, so the bound is a plain deadline loop: `Effect.timeout` would fork the
 * wait with the finalizer's uninterruptible flags, could not interrupt it when the grace ran
 * out, and shutdown would hang for as long as a task did.
 */
const drainQueue = (grace: Duration.Duration) =>
  Effect.gen(function*() {
    const queue = yield* GuestQueue
    const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(grace)
    const idle = Effect.map(queue.stats, (s) => s.running === 0 && s.queued === 0)
    let drained = yield* idle
    while (!drained && (yield* Clock.currentTimeMillis) < deadline) {
      yield* Effect.sleep("50 millis")
      drained = yield* idle
    }
    const left = yield* queue.stats
    if (!drained) {
      yield* Effect.logWarning("shutdown grace ran out; in-flight ops stay journaled for the next start's recovery").pipe(
        Effect.annotateLogs({ running: left.running, queued: left.queued })
      )
    }
  })

/** A control request, run through the daemon's own services (app/requests.ts). */
const handleControl = (status: StatusSource) => (
  request: ControlRequest
): Effect.Effect<CommandOutput, Described, Reconciler | Journal | Engine | Pve | NodeScope | SignedOps | Selftest | Readiness> => {
  switch (request.command) {
    case "apply":
      return Either.match(decodeDesiredState(request.desired, "the desired document sent to the daemon"), {
        onLeft: Effect.fail,
        onRight: (desired) => applyRequest(desired, { allowKeys: request.allowKeys })
      })
    case "revert":
      return revertRequest(request.opId)
    case "submit":
      return submitRequest(Buffer.from(request.envelope, "base64"), { safetySnapshot: request.safetySnapshot })
    case "selftest":
      return selftestRequest({ vmid: request.vmid, task: request.task, confirm: request.confirm })
    case "status":
      return gatherStatus(status)
  }
}

const main = (config: AgentConfigShape, lastPass: LastPass) =>
  Effect.gen(function*() {
    const { settings } = config
    const readiness = yield* Readiness
    const liveness = yield* Liveness
    const sd = yield* SdNotify
    // Served from the start, so a CLI request finds the daemon while it recovers (and waits for it).
    const recovered = yield* Deferred.make<void>()
    yield* serveControl({
      stateDir: settings.stateDir,
      isReady: Deferred.isDone(recovered),
      awaitReady: Deferred.await(recovered),
      handle: handleControl({ agentId: settings.agentId, stateDir: settings.stateDir, pveUrl: settings.pve.url, lastPass })
    })
    yield* sd.status("recovering the op journal")
    yield* recoverUntilSettled(settings.reconcile.taskDeadline)
    yield* Deferred.succeed(recovered, undefined)
    const reconciler = yield* Reconciler
    yield* readiness.markReady
    yield* Effect.logInfo("felhom-agent ready").pipe(Effect.annotateLogs({ agentId: settings.agentId, desired: settings.desired.source }))
    const reconcileFiber = yield* Effect.fork(liveness.watch("reconciler", reconciler.run))
    const hub = yield* Effect.serviceOption(HubLoop)
    const hubFiber = yield* Option.match(hub, { onNone: () => Effect.succeed(Option.none()), onSome: (h) => Effect.map(Effect.fork(h.run), Option.some) })
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* readiness.markNotReady("stopping")
        yield* Effect.logInfo("stopping: no new work; waiting for in-flight ops").pipe(
          Effect.annotateLogs({ graceMillis: Duration.toMillis(settings.shutdownGrace) })
        )
        yield* Fiber.interrupt(reconcileFiber)
        yield* Option.match(hubFiber, { onNone: () => Effect.void, onSome: Fiber.interrupt })
        yield* drainQueue(settings.shutdownGrace)
      }))
    return yield* Effect.never
  })

type LastPass = Ref.Ref<Option.Option<{ readonly pass: PassResult; readonly at: number }>>

/** Every service (docs/architecture.md, "The parts"), composed once from the settings. */
export const daemonLayer = (config: AgentConfigShape, lastPass: LastPass) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const { settings } = config
    // Every edge setting is checked here, before any layer is built: a bad one (signers file,
    // PVE URL/CA, hub URL/token/CA) must stop the daemon before the state database is opened or
    // the health port is bound ("one clear line and exit 1 before anything starts").
    const signers = yield* signersOf(settings)
    yield* checkDesiredFile(settings)
    const pveConnection = yield* pveConnectionOf(config)
    const hubClient = settings.desired.source === "hub" ? Option.some(yield* hubClientSettingsOf(config)) : Option.none()
    const health = Layer.unwrapEffect(Effect.gen(function*() {
      const store = yield* NonceStore
      const journal = yield* Journal
      // Each sample fails on its own: a journal read that fails must not leave the nonce gauges stale too.
      const sample = <E>(what: string, effect: Effect.Effect<void, E>) =>
        Effect.catchAllCause(effect, (cause) => Effect.logWarning(`metrics scrape: ${what} not sampled`, cause))
      const onScrape = Effect.zipRight(
        sample("nonce store fill", Effect.flatMap(store.fill, recordNonceFill)),
        sample("journal phases", Effect.flatMap(journal.countByPhase, recordJournalPhases))
      )
      return HealthServer.layer({ ...parseListen(settings.health.listen), onScrape })
    }))
    const observability = Layer.mergeAll(Readiness.layer, Liveness.layer({ staleAfter: Duration.sum(settings.reconcile.interval, settings.reconcile.taskDeadline) }), SdNotify.layer())
    // The daemon is the state directory's one writer for as long as it runs.
    const state = StoresLive({
      stateDir: settings.stateDir,
      writer: { command: "daemon" },
      nonces: { capacity: settings.signedOps.nonceCapacity, skew: seconds(settings.signedOps.skew) }
    })
    const agent = Layer.unwrapEffect(Effect.map(Liveness, (liveness) =>
      CoreLive({
        gate: { allowKeys: settings.gate.allowKeys, safetySnapshot: settings.gate.safetySnapshot },
        concurrency: settings.reconcile.concurrency,
        taskDeadline: settings.reconcile.taskDeadline,
        scope: { mode: settings.scope, node: settings.node },
        reconciler: {
          interval: settings.reconcile.interval,
          plan: { shutdownTimeout: Math.round(Duration.toSeconds(settings.reconcile.shutdownTimeout)) },
          onPass: (pass) =>
            Effect.flatMap(Clock.currentTimeMillis, (at) => Ref.set(lastPass, Option.some({ pass, at }))).pipe(
              Effect.zipRight(liveness.beat)
            )
        }
      }))).pipe(Layer.provideMerge(Layer.succeed(PveConnection, pveConnection)))
    const hubDesired = hubDesiredLayer(settings, signers)
    const desired = desiredLayer(settings, hubDesired)
    const signed = signedOpsLayer(settings, signers)
    const hubLoop = Option.isNone(hubClient) ? Layer.empty : Layer.unwrapEffect(Effect.gen(function*() {
      const services = yield* Effect.context<SignedOps | Engine | Pve | NodeScope>()
      const nonces = yield* NonceStore
      return HubLoop.layer({
        agentId: settings.agentId,
        interval: settings.hub?.pollInterval,
        onOp: (envelope): Effect.Effect<OpOutcomeSummary> => Effect.provide(submitForHub(envelope), services),
        report: reportOf(lastPass),
        highWater: nonces.highWater(settings.agentId)
      })
    })).pipe(Layer.provide(Layer.mergeAll(HubClient.layer(hubClient.value), hubDesired, signed)))
    const systemd = Layer.mergeAll(SystemdLifecycle.layer, Watchdog.layer())
    const core = Layer.mergeAll(hubLoop, signed).pipe(
      Layer.provideMerge(agent),
      Layer.provideMerge(desired),
      Layer.provideMerge(state)
    )
    return systemd.pipe(
      Layer.provideMerge(core),
      Layer.provideMerge(health),
      Layer.provideMerge(observability),
      Layer.provideMerge(state),
      // Built first and closed last: every fiber the daemon forks (queue workers, the reconcile
      // loop) inherits the tracer, and the spans of the final drain are flushed before exit.
      Layer.provide(tracingLayer(settings))
    )
  }))

export const runDaemon = (config: AgentConfigShape) =>
  Effect.flatMap(Ref.make(Option.none<{ readonly pass: PassResult; readonly at: number }>()), (lastPass) =>
    Effect.scoped(main(config, lastPass)).pipe(Effect.provide(daemonLayer(config, lastPass))))
