/**
 * sd_notify end to end: a real datagram socket stands in for systemd's NOTIFY_SOCKET, and the
 * real systemd-notify binary sends to it. Node cannot bind AF_UNIX datagram sockets, so the
 * listener is a few lines of python3. Both tools are required; without them the socket tests
 * are skipped with the reason in their name (CI: `apt-get install -y systemd python3`).
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Layer, Logger, Ref, Scope, TestClock } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { Liveness, Readiness } from "../../src/daemon/Health.js"
import { findSystemdNotify, SdNotify, type SdNotifyShape, SystemdLifecycle } from "../../src/daemon/SdNotify.js"
import { Watchdog, watchdogInterval } from "../../src/daemon/Watchdog.js"

const onPath = (name: string): string | undefined =>
  (process.env["PATH"] ?? "").split(path.delimiter).map((dir) => path.join(dir, name)).find((file) => existsSync(file))
const systemdNotify = findSystemdNotify(process.env["PATH"])
const python = onPath("python3")
const canRun = systemdNotify !== undefined && python !== undefined
const skipReason = canRun ? "" : " (SKIPPED: needs systemd-notify and python3)"

// Prints each datagram as one JSON string per line; an `@` address is an abstract socket.
const LISTENER = `
import socket, sys, json
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(("\\0" + addr[1:]) if addr.startswith("@") else addr)
print(json.dumps("LISTENING"), flush=True)
while True:
    print(json.dumps(s.recv(65536).decode("utf-8", "replace")), flush=True)
`

interface Listener {
  readonly messages: Array<string>
  readonly waitFor: (predicate: (messages: ReadonlyArray<string>) => boolean) => Effect.Effect<void>
}

const listen = (address: string) =>
  Effect.acquireRelease(
    Effect.async<{ child: ChildProcess; listener: Listener }>((resume) => {
      const child = spawn(python ?? "python3", ["-c", LISTENER, address], { stdio: ["ignore", "pipe", "inherit"] })
      const messages: Array<string> = []
      let buffer = ""
      child.stdout?.on("data", (chunk: Buffer) => {
        buffer += chunk.toString("utf8")
        const lines = buffer.split("\n")
        buffer = lines.pop() ?? ""
        for (const line of lines) {
          const message: unknown = line.startsWith("\"") ? JSON.parse(line) : line
          if (message === "LISTENING") resume(Effect.succeed({ child, listener }))
          else if (typeof message === "string") messages.push(message)
        }
      })
      // A listener that could not bind exits before LISTENING: fail now instead of at the timeout.
      child.on("exit", (code) => resume(Effect.die(`notify socket listener exited with ${code}`)))
      const listener: Listener = {
        messages,
        waitFor: (predicate) =>
          Effect.sleep("10 millis").pipe(
            Effect.repeat({ until: () => predicate(messages) }),
            Effect.timeoutFail({
              duration: "10 seconds",
              onTimeout: () => `expected message not received; got ${JSON.stringify(messages)}`
            }),
            Effect.orDie,
            Effect.asVoid
          )
      }
    }),
    ({ child }) =>
      Effect.sync(() => {
        child.kill("SIGKILL")
      })
  ).pipe(Effect.map(({ listener }) => listener))

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(path.join(tmpdir(), "felhom-sdnotify-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

// Messages minus systemd-notify's own BARRIER=1 handshakes.
const payloads = (messages: ReadonlyArray<string>) => messages.filter((m) => m !== "BARRIER=1")

describe("SdNotify", () => {
  it.live.skipIf(!canRun)(
    `READY, STATUS, WATCHDOG and STOPPING arrive on NOTIFY_SOCKET${skipReason}`,
    () =>
      Effect.scoped(Effect.gen(function*() {
        const dir = yield* tempDir
        const socket = path.join(dir, "notify.sock")
        const listener = yield* listen(socket)
        const scope = yield* Scope.make()
        const env = { NOTIFY_SOCKET: socket, PATH: process.env["PATH"] }
        const layer = SystemdLifecycle.layer.pipe(
          Layer.provideMerge(Layer.merge(SdNotify.layer({ env }), Readiness.layer))
        )
        const context = yield* Layer.buildWithScope(layer, scope)
        const readiness = Context.get(context, Readiness)
        const sd = Context.get(context, SdNotify)
        expect(sd.enabled).toBe(true)
        yield* listener.waitFor((m) => payloads(m).some((x) => x.startsWith("STATUS=starting")))
        yield* readiness.markReady
        yield* listener.waitFor((m) => payloads(m).some((x) => x.startsWith("READY=1")))
        yield* sd.status("reconciling 3 guests")
        yield* sd.watchdog
        yield* Scope.close(scope, Exit.void)
        yield* listener.waitFor((m) => payloads(m).some((x) => x.startsWith("STOPPING=1")))
        expect(payloads(listener.messages)).toEqual([
          "STATUS=starting: journal recovery not finished",
          "READY=1\nSTATUS=ready: journal recovered, reconciling",
          "STATUS=reconciling 3 guests",
          "WATCHDOG=1",
          "STOPPING=1\nSTATUS=stopping: finishing in-flight ops"
        ])
      }))
  )

  it.live.skipIf(!canRun)(
    `an abstract (@) NOTIFY_SOCKET works too${skipReason}`,
    () =>
      Effect.scoped(Effect.gen(function*() {
        const address = `@felhom-test-${process.pid}-${Date.now()}`
        const listener = yield* listen(address)
        const sd = yield* Effect.provide(
          SdNotify,
          SdNotify.layer({ env: { NOTIFY_SOCKET: address, PATH: process.env["PATH"] } })
        )
        yield* sd.ready()
        yield* listener.waitFor((m) => payloads(m).includes("READY=1"))
        expect(payloads(listener.messages)).toEqual(["READY=1"])
      }))
  )

  it.effect("is a no-op without NOTIFY_SOCKET", () =>
    Effect.gen(function*() {
      const sd = yield* Effect.provide(SdNotify, SdNotify.layer({ env: {} }))
      expect(sd.enabled).toBe(false)
      yield* sd.ready()
    }))

  it.effect("is a no-op with one warning when systemd-notify is missing", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const capture = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ message }) => {
          logs.push(String(message))
        })
      )
      const sd = yield* Effect.provide(
        SdNotify,
        SdNotify.layer({ env: { NOTIFY_SOCKET: "/run/notify", PATH: "/nonexistent" }, fallbackDirs: [] }).pipe(
          Layer.provide(capture)
        )
      )
      expect(sd.enabled).toBe(false)
      yield* sd.ready()
      yield* sd.watchdog
      expect(logs.filter((l) => l.includes("systemd-notify was not found"))).toHaveLength(1)
    }))

  it.live.skipIf(systemdNotify === undefined)(
    "a send that fails is logged, never raised",
    () =>
      Effect.gen(function*() {
        const logs: Array<string> = []
        const capture = Logger.replace(
          Logger.defaultLogger,
          Logger.make(({ message }) => {
            logs.push(String(message))
          })
        )
        const sd = yield* Effect.provide(
          SdNotify,
          SdNotify.layer({ env: { NOTIFY_SOCKET: "/nonexistent/notify", PATH: process.env["PATH"] } })
        )
        yield* sd.status("nobody listens").pipe(Effect.provide(capture))
        expect(logs).toContain("sd_notify failed")
      })
  )
})

const recordingSdNotify = (sent: Ref.Ref<Array<string>>): SdNotifyShape => {
  const record = (assignments: ReadonlyArray<string>) => Ref.update(sent, (all) => [...all, assignments.join("\n")])
  return {
    enabled: true,
    notify: record,
    ready: () => record(["READY=1"]),
    status: (text) => record([`STATUS=${text}`]),
    watchdog: record(["WATCHDOG=1"]),
    stopping: () => record(["STOPPING=1"])
  }
}

describe("Watchdog", () => {
  it("reads WATCHDOG_USEC and honours WATCHDOG_PID", () => {
    expect(watchdogInterval({}, 10)).toBeUndefined()
    expect(watchdogInterval({ WATCHDOG_USEC: "0" }, 10)).toBeUndefined()
    expect(watchdogInterval({ WATCHDOG_USEC: "abc" }, 10)).toBeUndefined()
    expect(watchdogInterval({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "11" }, 10)).toBeUndefined()
    expect(Duration.toMillis(watchdogInterval({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "10" }, 10) ?? Duration.zero))
      .toBe(30_000)
    expect(Duration.toMillis(watchdogInterval({ WATCHDOG_USEC: "2000000" }, 10) ?? Duration.zero)).toBe(2_000)
  })

  it.scoped("pings at half the interval only while the engine heartbeat is fresh", () =>
    Effect.gen(function*() {
      const sent = yield* Ref.make<Array<string>>([])
      const deps = Layer.merge(
        Layer.succeed(SdNotify, recordingSdNotify(sent)),
        Liveness.layer({ staleAfter: "10 seconds" })
      )
      const context = yield* Layer.build(
        Layer.provideMerge(Watchdog.layer({ env: { WATCHDOG_USEC: "4000000" }, pid: 1 }), deps)
      )
      const liveness = Context.get(context, Liveness)
      const pings = Effect.map(Ref.get(sent), (all) => all.filter((m) => m === "WATCHDOG=1").length)
      yield* TestClock.adjust("6 seconds") // ticks at 0, 2, 4, 6 s
      expect(yield* pings).toBe(4)
      // The last beat was at 0 s; from 12 s on it is older than staleAfter (10 s).
      yield* TestClock.adjust("8 seconds")
      const afterStale = yield* pings
      expect(afterStale).toBe(6) // 8 and 10 s pinged, 12 and 14 s did not
      expect((yield* Ref.get(sent)).some((m) => m.startsWith("STATUS=unhealthy: no heartbeat"))).toBe(true)
      yield* TestClock.adjust("6 seconds")
      expect(yield* pings).toBe(afterStale)
      yield* liveness.beat
      yield* TestClock.adjust("2 seconds")
      expect(yield* pings).toBe(afterStale + 1)
      expect((yield* Ref.get(sent)).filter((m) => m.startsWith("STATUS=")).length).toBe(2)
    }))

  it.scoped("a watched loop that ends stops the pings", () =>
    Effect.gen(function*() {
      const sent = yield* Ref.make<Array<string>>([])
      const deps = Layer.merge(Layer.succeed(SdNotify, recordingSdNotify(sent)), Liveness.layer())
      const context = yield* Layer.build(
        Layer.provideMerge(Watchdog.layer({ env: { WATCHDOG_USEC: "2000000" }, pid: 1 }), deps)
      )
      const liveness = Context.get(context, Liveness)
      yield* TestClock.adjust("1 second")
      yield* Effect.exit(liveness.watch("engine", Effect.fail("boom")))
      const before = (yield* Ref.get(sent)).filter((m) => m === "WATCHDOG=1").length
      yield* TestClock.adjust("10 seconds")
      expect((yield* Ref.get(sent)).filter((m) => m === "WATCHDOG=1").length).toBe(before)
      expect((yield* liveness.check).reason).toBe("engine stopped")
    }))
})
