/**
 * Health: what the agent says about itself. `Readiness` is false from start until the composition
 * root marks it ready after journal recovery (docs/architecture.md, invariant 5: nothing is served before
 * every unfinished op was resolved), and can fall back to not-ready with a reason (e.g. while
 * stopping). `Liveness` is a heartbeat: the engine/reconciler loop calls `beat` every turn, and
 * `/healthz` and the systemd watchdog (Watchdog.ts) only vouch for the process while that beat
 * is recent and the watched loop has not ended — a wedged loop in a live process is the failure
 * a bare "the HTTP server answers" check would miss.
 */
import { Clock, Context, Duration, Effect, Layer, Metric, Stream, SubscriptionRef } from "effect"
import { AgentMetrics } from "../domain/Metrics.js"

export interface ReadinessState {
  readonly ready: boolean
  readonly reason: string
}

export class Readiness extends Context.Tag("felhom/Readiness")<Readiness, {
  readonly markReady: Effect.Effect<void>
  readonly markNotReady: (reason: string) => Effect.Effect<void>
  readonly isReady: Effect.Effect<boolean>
  readonly current: Effect.Effect<ReadinessState>
  /** The current state, then every change (SdNotify's lifecycle bridge follows it). */
  readonly changes: Stream.Stream<ReadinessState>
}>() {
  static readonly layer: Layer.Layer<Readiness> = Layer.effect(
    Readiness,
    Effect.gen(function*() {
      const initial: ReadinessState = { ready: false, reason: "starting: journal recovery not finished" }
      const ref = yield* SubscriptionRef.make(initial)
      yield* Metric.set(AgentMetrics.ready, 0)
      const set = (state: ReadinessState) =>
        Effect.zipRight(SubscriptionRef.set(ref, state), Metric.set(AgentMetrics.ready, state.ready ? 1 : 0))
      return {
        markReady: set({ ready: true, reason: "ready" }),
        markNotReady: (reason: string) => set({ ready: false, reason }),
        isReady: Effect.map(SubscriptionRef.get(ref), (s) => s.ready),
        current: SubscriptionRef.get(ref),
        changes: Stream.changes(ref.changes)
      }
    })
  )
}

export interface LivenessStatus {
  readonly alive: boolean
  readonly reason: string
  /** Milliseconds since the last beat (or since start when none came yet). */
  readonly lastBeatAgeMillis: number
}

export interface LivenessOptions {
  /**
   * A beat older than this means the loop is wedged. Set it above the longest legitimate gap
   * between beats: the reconcile interval plus the longest pass (default 5 minutes).
   */
  readonly staleAfter?: Duration.DurationInput
}

export class Liveness extends Context.Tag("felhom/Liveness")<Liveness, {
  /** Called by the engine/reconciler loop on every turn. */
  readonly beat: Effect.Effect<void>
  /** The watched loop ended: liveness is lost for good (systemd restarts us). */
  readonly markDead: (reason: string) => Effect.Effect<void>
  /** Runs `effect` (the engine loop) and marks liveness lost however it ends. */
  readonly watch: <A, E, R>(name: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly check: Effect.Effect<LivenessStatus>
}>() {
  static readonly layer = (options: LivenessOptions = {}): Layer.Layer<Liveness> =>
    Layer.effect(Liveness, makeLiveness(options))
}

const makeLiveness = (options: LivenessOptions) =>
  Effect.gen(function*() {
    const staleAfterMillis = Duration.toMillis(options.staleAfter ?? Duration.minutes(5))
    // Start counts as a beat: the first turn may legitimately come an interval after start.
    let lastBeat = yield* Clock.currentTimeMillis
    let dead: string | undefined
    const markDead = (reason: string) =>
      Effect.sync(() => {
        dead ??= reason
      })
    return {
      beat: Effect.map(Clock.currentTimeMillis, (now) => {
        lastBeat = now
      }),
      markDead,
      watch: <A, E, R>(name: string, effect: Effect.Effect<A, E, R>) =>
        Effect.onExit(effect, (exit) => markDead(exit._tag === "Success" ? `${name} returned` : `${name} stopped`)),
      check: Effect.map(Clock.currentTimeMillis, (now): LivenessStatus => {
        const age = Math.max(0, now - lastBeat)
        if (dead !== undefined) return { alive: false, reason: dead, lastBeatAgeMillis: age }
        if (age > staleAfterMillis) {
          return { alive: false, reason: `no heartbeat for ${Math.round(age / 1000)} s`, lastBeatAgeMillis: age }
        }
        return { alive: true, reason: "alive", lastBeatAgeMillis: age }
      })
    }
  })
