/**
 * Reconciler: the level-triggered loop (docs/architecture.md, "A reconcile pass"). A pass
 * reads the desired document and the cluster afresh, plans (pure), and hands each action to the
 * Engine; nothing carries over between passes but the journal, so a missed trigger or a failed
 * action is simply seen again next pass. Passes run every `interval` and as soon as the
 * DesiredProvider reports a change. With the Empty provider every plan is empty: zero
 * mutations, forever (invariant 7).
 *
 * Within a pass, guests run in parallel (the GuestQueue bounds them) and one guest's actions
 * run in plan order, each awaited before the next is submitted: a guest's reconcile jobs would
 * otherwise coalesce and the later one (Start) replace the earlier (SetConfig). When one of a
 * guest's actions does not succeed, its later actions are skipped this pass: starting a guest
 * whose config write just conflicted would boot it with the config we meant to replace.
 */
import { Clock, Context, Duration, Effect, Layer, Metric, MetricBoundaries, MetricLabel, Queue, Stream } from "effect"
import type { Action } from "../domain/Action.js"
import { plannedOpId } from "../domain/Action.js"
import type { DesiredState } from "../domain/DesiredState.js"
import { Pve } from "../pve/Pve.js"
import type { PveError } from "../pve/PveError.js"
import { DesiredProvider } from "./DesiredProvider.js"
import { Engine, type RunOptions } from "./Engine.js"
import { NodeScope, type NodeScopeUnknown, type Ownership } from "./NodeScope.js"
import { observe } from "./observe.js"
import { describeOutcome, isSuccess, type OpResult, Outcome } from "./Outcome.js"
import { type ObservedGuest, type Plan, plan, type PlanOptions } from "./plan.js"

export const ReconcilerMetrics = {
  passSeconds: Metric.histogram(
    "felhom_reconcile_pass_seconds",
    MetricBoundaries.exponential({ start: 0.01, factor: 2, count: 14 }),
    "Duration of one reconcile pass (observe, plan, run)"
  ),
  actions: Metric.counter("felhom_reconcile_actions_total", {
    description: "Actions run by the reconciler, by kind and outcome",
    incremental: true
  }),
  drift: Metric.gauge("felhom_reconcile_drift", { description: "Actions planned by the last pass" }),
  restartRequired: Metric.gauge("felhom_reconcile_restart_required", {
    description: "Guests with pending changes that wait for a restart, at the last pass"
  }),
  passFailures: Metric.counter("felhom_reconcile_pass_failures_total", {
    description: "Passes that could not observe the cluster",
    incremental: true
  })
} as const

export interface PassResult {
  readonly plan: Plan
  readonly observed: ReadonlyArray<ObservedGuest>
  readonly results: ReadonlyArray<OpResult>
  readonly durationMillis: number
  /** PVE requests sent while the pass ran (by any caller of the same client). */
  readonly pveRequests: number
  /** The guests this pass owned: one node's (node scope) or every node's. */
  readonly ownership: Ownership
}

export interface ReconcilerOptions {
  /** Time between passes when nothing triggers one sooner (default 30 s). */
  readonly interval?: Duration.DurationInput
  readonly plan?: PlanOptions
  /** Told of each pass `run` completes: the daemon's heartbeat and hub report read it. */
  readonly onPass?: (pass: PassResult) => Effect.Effect<void>
  /** Told of each pass `run` could not complete (PVE unreadable, the node unknown), with why. */
  readonly onPassFailed?: (error: PassError) => Effect.Effect<void>
}

export interface PassOptions {
  /** Added to the gate's policy for this pass's actions (`apply --allow-keys`). */
  readonly gatePolicy?: RunOptions["gatePolicy"]
}

export interface ReconcilerShape {
  /**
   * One pass: observe → plan → engine; waits for every action. Fails only if observation fails
   * (or, in node scope, PVE cannot say which node this agent owns).
   */
  readonly runOnce: Effect.Effect<PassResult, PassError>
  /** One pass over this document instead of the provider's (`apply`, also through the daemon). */
  readonly runWith: (desired: DesiredState, options?: PassOptions) => Effect.Effect<PassResult, PassError>
  /** Passes forever: every interval and on each desired-state change; a failed pass is logged. */
  readonly run: Effect.Effect<never>
}

export type PassError = PveError | NodeScopeUnknown

export class Reconciler extends Context.Tag("felhom/Reconciler")<Reconciler, ReconcilerShape>() {
  static readonly layer = (
    options: ReconcilerOptions = {}
  ): Layer.Layer<Reconciler, never, DesiredProvider | Pve | Engine | NodeScope> =>
    Layer.effect(Reconciler, Effect.suspend(() => make(options)))
}

/** Actions grouped by vmid, each group in plan order; groups in first-appearance order. */
export const byGuest = (actions: ReadonlyArray<Action>): ReadonlyArray<ReadonlyArray<Action>> => {
  const groups = new Map<number, Array<Action>>()
  for (const a of actions) {
    const g = groups.get(a.guest.vmid)
    if (g === undefined) groups.set(a.guest.vmid, [a])
    else g.push(a)
  }
  return [...groups.values()]
}

const countAction = (r: OpResult): Effect.Effect<void> =>
  Metric.update(
    ReconcilerMetrics.actions.pipe(
      Metric.taggedWithLabels([MetricLabel.make("kind", r.action._tag), MetricLabel.make("outcome", r.outcome._tag)])
    ),
    1
  )

const make = (options: ReconcilerOptions) =>
  Effect.gen(function*() {
    const provider = yield* DesiredProvider
    const pve = yield* Pve
    const engine = yield* Engine
    const scope = yield* NodeScope
    const interval = Duration.decode(options.interval ?? Duration.seconds(30))
    // A series is born at its first update, which rate() and increase() cannot see: the first
    // failed pass (or the first good one after failures) would go unnoticed. Register both at 0;
    // reading the histogram registers it without recording a pass.
    yield* Metric.update(ReconcilerMetrics.passFailures, 0)
    yield* Metric.value(ReconcilerMetrics.passSeconds)

    const runGuest = (
      actions: ReadonlyArray<Action>,
      revision: string | undefined,
      observed: ObservedGuest | undefined,
      passOptions: PassOptions
    ) =>
      Effect.gen(function*() {
        const results: Array<OpResult> = []
        for (const action of actions) {
          const previous = results[results.length - 1]
          if (previous !== undefined && !isSuccess(previous.outcome)) {
            const reason = `not run: the guest's previous action (${previous.action._tag}) did not succeed`
            results.push({ opId: plannedOpId(action, revision), action, outcome: Outcome.Skipped({ reason }) })
            continue
          }
          results.push(
            yield* engine.run(action, {
              revision,
              ...(observed === undefined ? {} : { observed }),
              ...(passOptions.gatePolicy === undefined ? {} : { gatePolicy: passOptions.gatePolicy })
            })
          )
        }
        return results
      })

    const pass = (desired: DesiredState, passOptions: PassOptions = {}) =>
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        const requestsBefore = yield* pve.requestCount
        const ownership = yield* scope.current
        const node = ownership.node
        const observed = yield* Effect.provideService(observe(desired, {}, node), Pve, pve).pipe(
          Effect.withSpan("reconcile.observe")
        )
        const planned = yield* Effect.sync(() => plan(desired, observed, { ...options.plan, node })).pipe(
          Effect.tap((p) =>
            Effect.annotateCurrentSpan({
              actions: p.actions.length,
              skipped: p.skipped.length,
              restart_required: p.restartRequired.length
            })
          ),
          Effect.withSpan("reconcile.plan")
        )
        yield* Metric.set(ReconcilerMetrics.drift, planned.actions.length)
        yield* Metric.set(ReconcilerMetrics.restartRequired, planned.restartRequired.length)
        const byVmid = new Map(observed.map((o) => [o.guest.vmid as number, o]))
        const groups = yield* Effect.forEach(
          byGuest(planned.actions),
          (actions) => runGuest(actions, planned.revision, byVmid.get(actions[0]?.guest.vmid ?? 0), passOptions),
          { concurrency: "unbounded" }
        )
        const results = groups.flat()
        yield* Effect.forEach(results, countAction, { discard: true })
        const durationMillis = (yield* Clock.currentTimeMillis) - started
        yield* Metric.update(ReconcilerMetrics.passSeconds, durationMillis / 1000)
        const pveRequests = (yield* pve.requestCount) - requestsBefore
        return { plan: planned, observed, results, durationMillis, pveRequests, ownership }
      }).pipe(Effect.tapError(() => Metric.increment(ReconcilerMetrics.passFailures)))

    /**
     * Each pass is its own trace (root): a pass is the unit an operator asks about ("what did
     * the 14:02 pass do"), and the daemon's forever-loop would otherwise make one endless trace.
     */
    const tracedPass = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.withSpan(effect, "reconcile.pass", { root: true })

    const runWith = (desired: DesiredState, passOptions: PassOptions = {}) => tracedPass(pass(desired, passOptions))

    const runOnce = tracedPass(Effect.flatMap(provider.current, (desired) => pass(desired)))

    const logPass = (pass: PassResult) =>
      Effect.logInfo("reconcile pass").pipe(
        Effect.annotateLogs({
          actions: pass.plan.actions.length,
          failed: pass.results.filter((r) => !isSuccess(r.outcome)).length,
          skipped: pass.plan.skipped.length,
          ms: pass.durationMillis
        })
      )

    /** Each action that did not succeed, so an operator reading the log knows which, where and why. */
    const logUnsuccessful = (pass: PassResult) =>
      Effect.forEach(pass.results.filter((r) => !isSuccess(r.outcome)), (r) =>
        Effect.logWarning(`${r.action._tag} ${r.action.guest.type}/${r.action.guest.vmid} not applied`).pipe(
          Effect.annotateLogs({
            vmid: r.action.guest.vmid,
            action: r.action._tag,
            ...(r.action._tag === "SetConfig"
              ? { keys: [...Object.keys(r.action.set), ...r.action.delete].join(",") }
              : {}),
            outcome: r.outcome._tag,
            reason: describeOutcome(r.outcome),
            opId: r.opId
          })
        ), { discard: true })

    const run: Effect.Effect<never> = Effect.scoped(
      Effect.gen(function*() {
        // One pending trigger is enough: a pass reads the latest document anyway.
        const trigger = yield* Queue.sliding<void>(1)
        yield* Stream.runForEach(provider.changes, () =>
          Queue.offer(trigger, undefined)).pipe(Effect.forkScoped)
        const onPass = options.onPass ?? (() =>
          Effect.void)
        // The pass's own log lines are written inside its span, so they carry its trace id.
        const once = tracedPass(
          Effect.flatMap(provider.current, (desired) =>
            pass(desired)).pipe(
              Effect.tap(logPass),
              Effect.tap(logUnsuccessful)
            )
        ).pipe(
          Effect.flatMap(onPass),
          Effect.catchAll((e) =>
            Effect.logError("reconcile pass failed; retrying next interval").pipe(
              Effect.annotateLogs({ error: e.message }),
              Effect.zipRight(options.onPassFailed?.(e) ?? Effect.void)
            )
          )
        )
        return yield* Effect.forever(
          Effect.zipRight(once, Effect.raceFirst(Effect.sleep(interval), Queue.take(trigger)))
        )
      })
    )

    return { runOnce, runWith, run } satisfies ReconcilerShape
  })
