import { describe, expect, it } from "@effect/vitest"
import { Cause, Config, ConfigProvider, Effect, LogLevel, Option, Redacted } from "effect"
import { isJournalStream, journalPriority, Logging } from "../../src/daemon/Logging.js"

/** Runs `effect` with the agent's logger writing into an array; returns the lines. */
const capture = (
  effect: Effect.Effect<unknown>,
  options: { format?: "logfmt" | "json"; journald?: boolean; level?: LogLevel.LogLevel; traceContext?: boolean } = {}
) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    yield* effect.pipe(Effect.provide(Logging.layer({ ...options, write: (line) => lines.push(line) })))
    return lines
  })

describe("Logging format", () => {
  it.effect("logfmt with a timestamp outside systemd", () =>
    Effect.gen(function*() {
      const lines = yield* capture(Effect.logInfo("hello").pipe(Effect.annotateLogs({ vmid: 100 })), {
        journald: false
      })
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(/^timestamp=\d{4}-\d\d-\d\dT\S+Z level=INFO fiber=#\d+ message=hello vmid=100$/)
    }))

  it.effect("under journald: <N> priority per level and no timestamp", () =>
    Effect.gen(function*() {
      const lines = yield* capture(
        Effect.all([
          Effect.logError("e"),
          Effect.logWarning("w"),
          Effect.logInfo("i"),
          Effect.logDebug("d"),
          Effect.logFatal("f")
        ]),
        { journald: true, level: LogLevel.Debug }
      )
      expect(lines.map((l) => l.slice(0, 3))).toEqual(["<3>", "<4>", "<6>", "<7>", "<2>"])
      expect(lines[0]).toMatch(/^<3>level=ERROR fiber=#\d+ message=e$/)
      expect(lines.some((l) => l.includes("timestamp"))).toBe(false)
    }))

  it.effect("JSON lines by option, with and without journald", () =>
    Effect.gen(function*() {
      const plain = yield* capture(Effect.logWarning("careful").pipe(Effect.annotateLogs({ vmid: 101 })), {
        format: "json",
        journald: false
      })
      const entry: unknown = JSON.parse(plain[0] ?? "")
      expect(entry).toMatchObject({ message: "careful", logLevel: "WARN", annotations: { vmid: 101 } })
      expect(entry).toHaveProperty("timestamp")
      const journal = yield* capture(Effect.logWarning("careful"), { format: "json", journald: true })
      expect(journal[0]?.startsWith("<4>{")).toBe(true)
      expect(JSON.parse((journal[0] ?? "").slice(3))).not.toHaveProperty("timestamp")
    }))

  it.effect("multi-line errors and causes stay one line", () =>
    Effect.gen(function*() {
      const lines = yield* capture(
        Effect.all([
          Effect.logError("failed", new Error("first\nsecond")),
          Effect.logError("failed", Cause.fail(new Error("third\nfourth")))
        ]),
        { journald: true }
      )
      expect(lines).toHaveLength(2)
      expect(lines[0]).toContain("message=\"Error: first\\nsecond\"")
      expect(lines[1]).toContain("cause=\"Error: third\\nfourth")
    }))

  it.effect("the minimum level drops debug by default", () =>
    Effect.gen(function*() {
      expect(yield* capture(Effect.logDebug("noise"), { journald: false })).toEqual([])
    }))

  it.effect("a Redacted value never prints, in logfmt or JSON, message or annotation", () =>
    Effect.gen(function*() {
      const secret = "pve-token-secret-0123456789"
      const token = Redacted.make(secret)
      const fromConfig = yield* Effect.withConfigProvider(
        Config.redacted("token"),
        ConfigProvider.fromMap(new Map([["token", secret]]))
      )
      const log = Effect.all([
        Effect.logInfo("token", token),
        Effect.logInfo({ token: fromConfig }).pipe(Effect.annotateLogs({ token })),
        Effect.logError("failed", token)
      ])
      const lines = [
        ...(yield* capture(log, { journald: false })),
        ...(yield* capture(log, { format: "json", journald: true }))
      ]
      expect(lines).toHaveLength(6)
      for (const line of lines) {
        expect(line).not.toContain(secret)
        expect(line).toContain("redacted")
      }
    }))

  it("maps levels to syslog priorities", () => {
    expect(journalPriority(LogLevel.Error)).toBe(3)
    expect(journalPriority(LogLevel.Warning)).toBe(4)
    expect(journalPriority(LogLevel.Info)).toBe(6)
    expect(journalPriority(LogLevel.Debug)).toBe(7)
    expect(journalPriority(LogLevel.Trace)).toBe(7)
  })

  it("JOURNAL_STREAM counts only when it names the stream itself", () => {
    expect(isJournalStream({}, 2)).toBe(false)
    expect(isJournalStream({ JOURNAL_STREAM: "0:0" }, 2)).toBe(false)
  })
})

describe("Logging: trace context", () => {
  /** Logs once inside a span and returns the lines with the span the log happened in. */
  const inSpan = (options: Parameters<typeof capture>[1]) =>
    Effect.gen(function*() {
      let span: { readonly traceId: string; readonly spanId: string } | undefined
      const lines = yield* capture(
        Effect.gen(function*() {
          span = Option.getOrUndefined(yield* Effect.option(Effect.currentSpan))
          yield* Effect.logInfo("inside").pipe(Effect.annotateLogs({ vmid: 100 }))
        }).pipe(Effect.withSpan("reconcile.pass")),
        { journald: false, ...options }
      )
      return { lines, span }
    })

  it.effect("a log inside a sampled span carries trace_id and span_id (logfmt)", () =>
    Effect.gen(function*() {
      const { lines, span } = yield* inSpan({ traceContext: true })
      expect(span).toBeDefined()
      expect(lines).toHaveLength(1)
      expect(lines[0]).toContain(`trace_id=${span?.traceId} `)
      expect(lines[0]).toMatch(new RegExp(`span_id=${span?.spanId}( |$)`))
      expect(span?.traceId).toMatch(/^[0-9a-f]{32}$/)
    }))

  it.effect("… and as annotations in JSON lines", () =>
    Effect.gen(function*() {
      const { lines, span } = yield* inSpan({ traceContext: true, format: "json" })
      const entry: unknown = JSON.parse(lines[0] ?? "")
      expect(entry).toMatchObject({
        message: "inside",
        annotations: { vmid: 100, trace_id: span?.traceId, span_id: span?.spanId }
      })
    }))

  it.effect("no span, a disabled tracer's span, or trace context off: no trace fields", () =>
    Effect.gen(function*() {
      const outside = yield* capture(Effect.logInfo("outside"), { journald: false, traceContext: true })
      const disabled = yield* inSpan({ traceContext: true }).pipe(Effect.withTracerEnabled(false))
      const off = yield* inSpan({})
      const offJson = yield* inSpan({ format: "json" })
      for (const line of [...outside, ...disabled.lines, ...off.lines, ...offJson.lines]) {
        expect(line).not.toMatch(/trace_id|span_id/)
      }
      expect(off.lines).toHaveLength(1)
    }))
})
