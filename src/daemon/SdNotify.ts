/**
 * SdNotify: the sd_notify(3) protocol towards systemd (`Type=notify`). Node has no AF_UNIX
 * datagram sockets, so each message is sent by spawning `systemd-notify VAR=VALUE`: no native
 * addon to build, abstract (`@`) sockets handled by systemd itself, and systemd-notify waits
 * (barrier) until the manager processed the message, so READY=1 is never lost to a race with
 * its own exit. The price: the datagram comes from systemd-notify's PID, not ours, so the unit
 * needs `NotifyAccess=all` (deploy/felhom-agent.service). Raw assignments are used rather than
 * `--ready`/`--stopping` because `--stopping` only exists since systemd 253 (Debian 12 has 252).
 *
 * Without NOTIFY_SOCKET (not under systemd, or `Type=simple`) every verb is a no-op. If the
 * socket is set but the binary is missing, one warning is logged and the verbs become no-ops:
 * the daemon must run without systemd's cooperation rather than refuse to start.
 * Sends are serialized, so READY=1 and the STATUS= lines arrive in the order they were asked;
 * a failed or slow send is logged, never failed to the caller: notification is best effort.
 */
import { Context, Duration, Effect, Layer, Stream } from "effect"
import { execFile } from "node:child_process"
import { accessSync, constants } from "node:fs"
import * as path from "node:path"
import { Readiness } from "./Health.js"

export interface SdNotifyShape {
  /** False when notifications go nowhere (no NOTIFY_SOCKET or no systemd-notify). */
  readonly enabled: boolean
  /** Sends `KEY=VALUE` assignments in one datagram. */
  readonly notify: (assignments: ReadonlyArray<string>) => Effect.Effect<void>
  readonly ready: (status?: string) => Effect.Effect<void>
  readonly status: (text: string) => Effect.Effect<void>
  readonly watchdog: Effect.Effect<void>
  readonly stopping: (status?: string) => Effect.Effect<void>
}

const noop: SdNotifyShape = {
  enabled: false,
  notify: () => Effect.void,
  ready: () => Effect.void,
  status: () => Effect.void,
  watchdog: Effect.void,
  stopping: () => Effect.void
}

export class SdNotify extends Context.Tag("felhom/SdNotify")<SdNotify, SdNotifyShape>() {
  /** Reads NOTIFY_SOCKET (and FELHOM_SYSTEMD_NOTIFY for the binary) from `process.env`. */
  static readonly layer = (options: SdNotifyOptions = {}): Layer.Layer<SdNotify> =>
    Layer.effect(SdNotify, make(options))
  static readonly layerNoop: Layer.Layer<SdNotify> = Layer.succeed(SdNotify, noop)
}

export interface SdNotifyOptions {
  /** Defaults to `process.env`; tests pass their own NOTIFY_SOCKET. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Path of systemd-notify; default `$FELHOM_SYSTEMD_NOTIFY`, else searched on PATH. */
  readonly binary?: string
  /** Searched after PATH; default the Debian/PVE and NixOS locations. */
  readonly fallbackDirs?: ReadonlyArray<string>
  /** Bound on one send (systemd-notify's barrier waits up to 5 s itself). Default 10 s. */
  readonly timeout?: Duration.DurationInput
}

// Where systemd-notify lives on Debian/PVE and NixOS when the unit's PATH is minimal.
const FALLBACK_DIRS = ["/usr/bin", "/bin", "/run/current-system/sw/bin"]

/** The first executable `systemd-notify` on PATH (then the fallbacks), or undefined. */
export const findSystemdNotify = (
  pathVar: string | undefined,
  fallbackDirs: ReadonlyArray<string> = FALLBACK_DIRS
): string | undefined => {
  const dirs = [...(pathVar ?? "").split(path.delimiter).filter((d) => d !== ""), ...fallbackDirs]
  for (const dir of dirs) {
    const candidate = path.join(dir, "systemd-notify")
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // Not here; keep looking.
    }
  }
  return undefined
}

/** A STATUS= value is one line; newlines would end the assignment early. */
const oneLine = (text: string): string => text.replace(/[\r\n]+/g, " ").slice(0, 1024)

const make = (options: SdNotifyOptions) =>
  Effect.gen(function*() {
    const env = options.env ?? process.env
    const socket = env["NOTIFY_SOCKET"]
    if (socket === undefined || socket === "") return noop
    const binary = options.binary ?? env["FELHOM_SYSTEMD_NOTIFY"] ??
      findSystemdNotify(env["PATH"], options.fallbackDirs)
    if (binary === undefined) {
      yield* Effect.logWarning(
        "NOTIFY_SOCKET is set but systemd-notify was not found; readiness and watchdog notifications are disabled"
      )
      return noop
    }
    const timeout = Duration.toMillis(options.timeout ?? Duration.seconds(10))
    const childEnv = { PATH: env["PATH"] ?? "/usr/bin:/bin", NOTIFY_SOCKET: socket }
    const lock = yield* Effect.makeSemaphore(1)

    const spawn = (assignments: ReadonlyArray<string>) =>
      Effect.async<void, string>((resume) => {
        const child = execFile(binary, [...assignments], { env: childEnv, timeout }, (error, _stdout, stderr) => {
          if (error === null) resume(Effect.void)
          else resume(Effect.fail(`${error.message.split("\n")[0] ?? ""} ${stderr.trim()}`.trim()))
        })
        return Effect.sync(() => {
          child.kill("SIGKILL")
        })
      })

    const notify = (assignments: ReadonlyArray<string>): Effect.Effect<void> =>
      lock.withPermits(1)(spawn(assignments)).pipe(
        Effect.catchAll((reason) =>
          Effect.logWarning("sd_notify failed").pipe(
            Effect.annotateLogs({ assignments: assignments.join(" "), reason })
          )
        )
      )
    const withStatus = (first: string, status: string | undefined) =>
      status === undefined ? [first] : [first, `STATUS=${oneLine(status)}`]

    return {
      enabled: true,
      notify,
      ready: (status?: string) => notify(withStatus("READY=1", status)),
      status: (text: string) => notify([`STATUS=${oneLine(text)}`]),
      watchdog: notify(["WATCHDOG=1"]),
      stopping: (status?: string) => notify(withStatus("STOPPING=1", status))
    }
  })

/**
 * The systemd side of the lifecycle, as one scoped layer: follows `Readiness` (READY=1 with a
 * status when it turns ready, a STATUS= line with the reason when it falls back) and sends
 * STOPPING=1 when its scope closes. Build it after the engine so that, with layers released in
 * reverse order, STOPPING=1 goes out first, while in-flight ops are still finishing.
 */
export const SystemdLifecycle = {
  layer: Layer.scopedDiscard(
    Effect.gen(function*() {
      const sd = yield* SdNotify
      const readiness = yield* Readiness
      let wasReady = false
      yield* readiness.changes.pipe(
        Stream.runForEach((state) => {
          if (state.ready && !wasReady) {
            wasReady = true
            return sd.ready("ready: journal recovered, reconciling")
          }
          if (!state.ready) wasReady = false
          return sd.status(state.ready ? "ready" : state.reason)
        }),
        Effect.forkScoped
      )
      yield* Effect.addFinalizer(() =>
        Effect.zipRight(
          Effect.logInfo("stopping: finishing in-flight ops"),
          sd.stopping("stopping: finishing in-flight ops")
        )
      )
    })
  )
} as const
