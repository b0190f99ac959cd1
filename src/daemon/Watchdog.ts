/**
 * Watchdog: systemd's software watchdog (`WatchdogSec=` in the unit). systemd exports
 * WATCHDOG_USEC (and WATCHDOG_PID) to the service; if no WATCHDOG=1 arrives within that time it
 * kills and, with `Restart=on-failure`, restarts the agent. We ping every half interval (the
 * sd_watchdog_enabled(3) advice) — but only while `Liveness` says the engine loop is alive, so
 * a wedged loop in a live process gets restarted instead of being vouched for by a timer.
 * Transitions between healthy and stale produce one STATUS= line and one log line each, not one
 * per tick.
 */
import { Duration, Effect, Layer, Schedule } from "effect"
import { Liveness } from "./Health.js"
import { SdNotify } from "./SdNotify.js"

/**
 * The ping interval systemd asks for, or undefined when the watchdog is off or meant for another
 * process (WATCHDOG_PID names a different pid, e.g. a wrapper script that exec'd us — a
 * mismatch there means the variables were inherited, not addressed to us).
 */
export const watchdogInterval = (
  env: Readonly<Record<string, string | undefined>>,
  pid: number
): Duration.Duration | undefined => {
  const usec = env["WATCHDOG_USEC"]
  if (usec === undefined || !/^\d+$/.test(usec)) return undefined
  const micros = Number(usec)
  if (micros <= 0) return undefined
  const watchdogPid = env["WATCHDOG_PID"]
  if (watchdogPid !== undefined && watchdogPid !== "" && Number(watchdogPid) !== pid) return undefined
  return Duration.micros(BigInt(micros))
}

export interface WatchdogOptions {
  /** Defaults to `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly pid?: number
}

/** One tick: ping if alive; report the transition if the state changed. Exposed for tests. */
export const makeWatchdogTick = Effect.gen(function*() {
  const sd = yield* SdNotify
  const liveness = yield* Liveness
  let healthy = true
  return Effect.gen(function*() {
    const status = yield* liveness.check
    if (status.alive) {
      if (!healthy) {
        healthy = true
        yield* Effect.logInfo("engine heartbeat back; watchdog pings resume")
        yield* sd.status("ready: engine heartbeat back")
      }
      yield* sd.watchdog
      return
    }
    if (healthy) {
      healthy = false
      yield* Effect.logError("engine not alive; withholding watchdog pings so systemd restarts the agent")
        .pipe(Effect.annotateLogs({ reason: status.reason }))
      yield* sd.status(`unhealthy: ${status.reason}`)
    }
  })
})

export const Watchdog = {
  /**
   * Forks the ping fiber for the layer's lifetime when WATCHDOG_USEC is set; otherwise does
   * nothing. Requires SdNotify and Liveness.
   */
  layer: (options: WatchdogOptions = {}): Layer.Layer<never, never, SdNotify | Liveness> =>
    Layer.scopedDiscard(Effect.gen(function*() {
      const interval = watchdogInterval(options.env ?? process.env, options.pid ?? process.pid)
      if (interval === undefined) return
      const tick = yield* makeWatchdogTick
      const every = Duration.millis(Math.max(1, Duration.toMillis(interval) / 2))
      yield* Effect.logInfo("systemd watchdog enabled").pipe(
        Effect.annotateLogs({ pingEveryMillis: Duration.toMillis(every) })
      )
      yield* tick.pipe(Effect.repeat(Schedule.spaced(every)), Effect.forkScoped)
    }))
} as const
