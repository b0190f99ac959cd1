/**
 * runDaemon: the composition root. Start-up order is the safety argument (docs/architecture.md,
 * invariant 5): configuration (a bad one stops everything before it starts) → state database → journal
 * recovery against PVE → ready. Only then do the reconciler and the hub loop take work.
 * SIGTERM: not ready, stop taking work, let in-flight ops reach a journaled phase (bounded by
 * `shutdownGrace`), exit 0. Whatever is still running then is in the journal with its UPID
 * and is resolved by the next start's recovery.
 */
import type { FileSystem } from "@effect/platform"
import { Clock, Deferred, Duration, Effect, Either, Fiber, Layer, Option, Ref, Schedule } from "effect"
import { CoreLive } from "../app/Agent.js"
import { applyRequest, type CommandOutput, revertRequest, selftestRequest, submitRequest } from "../app/requests.js"
import { StoresLive } from "../app/Stores.js"
import type { SignedOps } from "../authz/SignedOps.js"
import type { AgentConfigShape } from "../config/AgentConfig.js"
import { decodeDesiredState } from "../domain/DesiredState.js"
import { recordJournalPhases, recordNonceFill } from "../domain/Metrics.js"
import type { HubStoreError } from "../hub/HubError.js"
import type { Pve } from "../pve/Pve.js"
import { PveConnection } from "../pve/PveConnection.js"
import type { DesiredFileError, DesiredProvider } from "../reconcile/DesiredProvider.js"
import { Engine } from "../reconcile/Engine.js"
import { GuestQueue } from "../reconcile/GuestQueue.js"
import type { NodeScope } from "../reconcile/NodeScope.js"
import { Reconciler } from "../reconcile/Reconciler.js"
import type { Selftest } from "../selftest/Selftest.js"
import { Journal } from "../state/Journal.js"
import { NonceStore } from "../state/NonceStore.js"
import { recover } from "../state/Recovery.js"
import type { StateStore } from "../state/StateStore.js"
import type { ControlRequest } from "./controlProtocol.js"
import { type Described, serveControl } from "./ControlServer.js"
import { Liveness, Readiness } from "./Health.js"
import { HealthServer, parseListen } from "./HealthServer.js"
import { HubLink } from "./HubLink.js"
import { checkDesiredFile, localDesiredLayer, pveConnectionOf, seconds, signedOpsLayer, signersOf } from "./layers.js"
import { SdNotify, SystemdLifecycle } from "./SdNotify.js"
import { gatherStatus, type LastPass, noPassYet, type PassRecord, type StatusSource } from "./status.js"
import { tracingLayer } from "./Tracing.js"
import { Watchdog } from "./Watchdog.js"

/** Recovery must settle every op before readiness; an unresolved one is retried, never skipped. */
const recoverUntilSettled = (deadline: Duration.Duration) =>
  Effect.gen(function*() {
    const engine = yield* Engine
    const readiness = yield* Readiness
    const sd = yield* SdNotify
    const attempt = Effect.gen(function*() {
      const summary = yield* recover({
        checkPostState: engine.checkPostState,
        undecidable: engine.undecidable,
        waitDeadline: deadline
      })
      yield* Effect.logInfo("journal recovery").pipe(Effect.annotateLogs({ ...summary.counts, total: summary.total }))
      if (summary.counts.unresolved === 0) return true
      const reason = `${summary.counts.unresolved} op(s) could not be resolved against PVE yet; retrying`
      yield* readiness.markNotReady(reason)
      yield* sd.status(reason)
      return false
    })
    yield* Effect.repeat(attempt, {
      until: (settled) => settled,
      schedule: Schedule.exponential("5 seconds").pipe(Schedule.union(Schedule.spaced("1 minute")))
    })
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
      yield* Effect.logWarning("shutdown grace ran out; in-flight ops stay journaled for the next start's recovery")
        .pipe(
          Effect.annotateLogs({ running: left.running, queued: left.queued })
        )
    }
  })

/** A control request, run through the daemon's own services (app/requests.ts). */
const handleControl = (status: StatusSource) =>
(
  request: ControlRequest
): Effect.Effect<
  CommandOutput,
  Described,
  Reconciler | Journal | Engine | Pve | NodeScope | SignedOps | Selftest | Readiness
> => {
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
      handle: handleControl({
        agentId: settings.agentId,
        stateDir: settings.stateDir,
        pveUrl: settings.pve.url,
        lastPass
      })
    })
    yield* sd.status("recovering the op journal")
    yield* recoverUntilSettled(settings.reconcile.taskDeadline)
    yield* Deferred.succeed(recovered, undefined)
    const reconciler = yield* Reconciler
    yield* readiness.markReady
    yield* Effect.logInfo("felhom-agent ready").pipe(
      Effect.annotateLogs({ agentId: settings.agentId, desired: settings.desired.source })
    )
    const reconcileFiber = yield* Effect.fork(liveness.watch("reconciler", reconciler.run))
    const hub = yield* Effect.serviceOption(HubLink)
    const hubFiber = yield* Option.match(hub, {
      onNone: () => Effect.succeed(Option.none()),
      onSome: (h) => Effect.map(Effect.fork(h.run), Option.some)
    })
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        yield* readiness.markNotReady("stopping")
        yield* Effect.logInfo("stopping: no new work; waiting for in-flight ops").pipe(
          Effect.annotateLogs({ graceMillis: Duration.toMillis(settings.shutdownGrace) })
        )
        yield* Fiber.interrupt(reconcileFiber)
        yield* Option.match(hubFiber, { onNone: () => Effect.void, onSome: Fiber.interrupt })
        yield* drainQueue(settings.shutdownGrace)
      })
    )
    return yield* Effect.never
  })

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
    // The hub's code is loaded only when the hub is the desired source (hubLayers.ts).
    const hub = settings.desired.source === "hub"
      ? Option.some(
        yield* Effect.flatMap(Effect.promise(() => import("./hubLayers.js")), (m) =>
          m.hubLayers(config, signers, lastPass))
      )
      : Option.none()
    const health = Layer.unwrapEffect(Effect.gen(function*() {
      const store = yield* NonceStore
      const journal = yield* Journal
      // Each sample fails on its own: a journal read that fails must not leave the nonce gauges stale too.
      const sample = <E>(what: string, effect: Effect.Effect<void, E>) =>
        Effect.catchAllCause(effect, (cause) =>
          Effect.logWarning(`metrics scrape: ${what} not sampled`, cause))
      const onScrape = Effect.zipRight(
        sample("nonce store fill", Effect.flatMap(store.fill, recordNonceFill)),
        sample("journal phases", Effect.flatMap(journal.countByPhase, recordJournalPhases))
      )
      return HealthServer.layer({ ...parseListen(settings.health.listen), onScrape })
    }))
    const observability = Layer.mergeAll(
      Readiness.layer,
      Liveness.layer({ staleAfter: Duration.sum(settings.reconcile.interval, settings.reconcile.taskDeadline) }),
      SdNotify.layer()
    )
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
            Effect.flatMap(
              Clock.currentTimeMillis,
              (at) => Ref.set(lastPass, { last: Option.some({ pass, at }), failure: Option.none() })
            ).pipe(Effect.zipRight(liveness.beat)),
          // Told to status and the hub: a daemon that is ready but cannot pass says why.
          onPassFailed: (error) =>
            Effect.flatMap(
              Clock.currentTimeMillis,
              (at) => Ref.update(lastPass, (r) => ({ ...r, failure: Option.some({ message: error.message, at }) }))
            )
        }
      }))).pipe(Layer.provideMerge(Layer.succeed(PveConnection, pveConnection)))
    const desired: Layer.Layer<DesiredProvider, DesiredFileError | HubStoreError, FileSystem.FileSystem | StateStore> =
      Option.match(hub, {
        onNone: () => localDesiredLayer(settings),
        onSome: (h) => h.desired
      })
    const signed = signedOpsLayer(settings, signers)
    const hubLink = Option.match(hub, { onNone: () => Layer.empty, onSome: (h) => h.link(signed) })
    const systemd = Layer.mergeAll(SystemdLifecycle.layer, Watchdog.layer())
    const core = Layer.mergeAll(hubLink, signed).pipe(
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
  Effect.flatMap(
    Ref.make<PassRecord>(noPassYet),
    (lastPass) => Effect.scoped(main(config, lastPass)).pipe(Effect.provide(daemonLayer(config, lastPass)))
  )
