/**
 * Logging: one line per log event, logfmt by default or JSON by option, on stderr (stdout stays
 * for command output). Under systemd's journal each line starts with a `<N>` syslog priority
 * (sd-daemon(3): `<3>` error, `<4>` warning, `<6>` info, `<7>` debug) and carries no timestamp,
 * because journald stamps every line itself; elsewhere lines carry an ISO timestamp.
 * Multi-line values (causes, stack traces) are escaped by the formatters, so one event is one
 * journal entry. `Redacted` values print as `<redacted>` (Effect's formatters redact them; the
 * tests hold that).
 *
 * `flushStdio`/`teardown`: under systemd stdout/stderr are sockets that Node writes
 * asynchronously; exiting right after a burst lost most of it (measured 304 of 5,001 lines:
 * `NodeRuntime.runMain` calls `process.exit` as soon as finalizers end), so the process exits
 * only after both streams drained.
 */
import {
  Cause,
  Context,
  Effect,
  Exit,
  FiberRef,
  FiberRefs,
  HashMap,
  HashSet,
  Inspectable,
  Layer,
  Logger,
  LogLevel,
  Option,
  Tracer
} from "effect"
import { fstatSync } from "node:fs"

export type LogFormat = "logfmt" | "json"

export interface LoggingOptions {
  readonly format?: LogFormat
  /** Prefix `<N>` and drop the timestamp. Default: detected from JOURNAL_STREAM. */
  readonly journald?: boolean
  /** Least severe level written. Default Info. */
  readonly level?: LogLevel.LogLevel
  readonly stream?: "stderr" | "stdout"
  /** Defaults to `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Where a finished line (without newline) goes; default the chosen process stream. */
  readonly write?: (line: string) => void
  /**
   * Add `trace_id`/`span_id` of the span a log happens in. Only when spans are exported
   * (Tracing.ts): Effect's built-in tracer draws ids too, and an id no collector ever saw would
   * send an operator looking for a trace that does not exist. Default false.
   */
  readonly traceContext?: boolean
}

/** The syslog priority journald reads from a `<N>` prefix. */
export const journalPriority = (level: LogLevel.LogLevel): number => {
  switch (level._tag) {
    case "Fatal":
      return 2
    case "Error":
      return 3
    case "Warning":
      return 4
    case "Info":
      return 6
    default:
      return 7
  }
}

/**
 * systemd sets JOURNAL_STREAM to `device:inode` of the stream it connected to the journal. A
 * child started from a shell inside a unit inherits the variable with a terminal on stderr, so
 * the variable alone is not proof: the stream's own device and inode must match.
 */
export const isJournalStream = (
  env: Readonly<Record<string, string | undefined>>,
  fd: number
): boolean => {
  const value = env["JOURNAL_STREAM"]
  if (value === undefined || value === "") return false
  try {
    const stat = fstatSync(fd)
    return value === `${stat.dev}:${stat.ino}`
  } catch {
    // Cannot inspect the fd (closed?): trust the variable rather than lose priorities.
    return true
  }
}

export const parseLogFormat = (text: string): LogFormat | undefined =>
  text === "logfmt" || text === "json" ? text : undefined

// Effect's logfmt line starts `timestamp=<ISO> level=…`; the ISO form has no spaces.
const withoutTimestamp = (line: string): string => line.replace(/^timestamp=\S+ /, "")

// Effect renders an Error passed as a message as `{}` (JSON of its own enumerable fields).
const errorText = (u: unknown): unknown => u instanceof Error ? `${u.name}: ${u.message}` : u
const readableErrors = (message: unknown): unknown =>
  Array.isArray(message) ? message.map(errorText) : errorText(message)

/** The span a log event happened in, if it is one a tracer samples (a disabled tracer's never is). */
const sampledSpan = (context: FiberRefs.FiberRefs): Option.Option<Tracer.AnySpan> =>
  Option.filter(
    Context.getOption(FiberRefs.getOrDefault(context, FiberRef.currentContext), Tracer.ParentSpan),
    (span) => span.sampled
  )

/** The trace ids as two more annotations, so both formats render them like any other field. */
const withTraceIds = <O>(logger: Logger.Logger<unknown, O>): Logger.Logger<unknown, O> =>
  Logger.mapInputOptions(logger, (options) =>
    Option.match(sampledSpan(options.context), {
      onNone: () => options,
      onSome: (span) => ({
        ...options,
        annotations: HashMap.set(HashMap.set(options.annotations, "trace_id", span.traceId), "span_id", span.spanId)
      })
    }))

/** Builds the line formatter: pure apart from what the message itself renders. */
export const makeFormatter = (
  format: LogFormat,
  journald: boolean,
  traceContext = false
): Logger.Logger<unknown, string> => {
  const traced = traceContext ? withTraceIds : <O>(logger: Logger.Logger<unknown, O>) => logger
  if (format === "logfmt") {
    const logfmt = traced(Logger.mapInput(Logger.logfmtLogger, readableErrors))
    return journald ? Logger.map(logfmt, withoutTimestamp) : logfmt
  }
  return Logger.map(traced(Logger.structuredLogger), (entry) => {
    const { timestamp, ...rest } = entry
    const message = rest.message instanceof Error
      ? { name: rest.message.name, message: rest.message.message }
      : rest.message
    return Inspectable.stringifyCircular(journald ? { ...rest, message } : { timestamp, ...rest, message })
  })
}

/** The logger itself: formats, prefixes the journal priority, writes one line. */
export const makeLogger = (options: LoggingOptions = {}): Logger.Logger<unknown, void> => {
  const env = options.env ?? process.env
  const streamName = options.stream ?? "stderr"
  const journald = options.journald ?? isJournalStream(env, streamName === "stderr" ? 2 : 1)
  const formatter = makeFormatter(options.format ?? "logfmt", journald, options.traceContext ?? false)
  const write = options.write ?? ((line: string) => {
    ;(streamName === "stderr" ? process.stderr : process.stdout).write(`${line}\n`)
  })
  return Logger.make((entry) => {
    const line = formatter.log(entry)
    write(journald ? `<${journalPriority(entry.logLevel)}>${line}` : line)
  })
}

/**
 * Where the lines of a logger without a `write` of its own go instead of the process stream.
 * Production never sets it; a test that runs a command or the daemon in this process does, to
 * read what an operator would see on stderr (the stream is the edge, the formatting is not).
 */
export const currentLineSink: FiberRef.FiberRef<Option.Option<(line: string) => void>> = FiberRef.unsafeMake(
  Option.none()
)

/**
 * Makes this logger the only one and sets the minimum level. "Only": `NodeRuntime.runMain` has
 * already swapped the default logger for its pretty console logger, which `Logger.replace`
 * would leave in place — every event would then be written twice, once to stdout.
 */
export const layer = (options: LoggingOptions = {}): Layer.Layer<never> =>
  Layer.unwrapEffect(Effect.map(FiberRef.get(currentLineSink), (sink) => {
    const write = options.write ?? Option.getOrUndefined(sink)
    return Layer.merge(
      Layer.locallyScoped(FiberRef.currentLoggers, HashSet.make(makeLogger({ ...options, write }))),
      Logger.minimumLogLevel(options.level ?? LogLevel.Info)
    )
  }))

export const Logging = { layer, makeLogger, makeFormatter } as const

const drain = (stream: NodeJS.WriteStream): Promise<void> =>
  new Promise<void>((resolve) => {
    // A destroyed stream (reader gone) never calls back; nothing more can be delivered anyway.
    if (stream.destroyed || !stream.writable) resolve()
    else stream.write("", () => resolve())
  })

/** Resolves once everything written so far to stdout and stderr has been handed to the OS. */
export const flushStdio = (): Promise<void> =>
  Promise.all([drain(process.stdout), drain(process.stderr)]).then(() => undefined)

/**
 * A `NodeRuntime.runMain` teardown: exit 0 on success or interruption (SIGTERM is the normal
 * way a daemon stops), 1 on failure — after stdout and stderr drained. `exitCode` overrides the
 * success code (e.g. run.ts's requested exit code).
 */
export const teardown =
  (exitCode: () => number = () => 0) => <E, A>(exit: Exit.Exit<E, A>, onExit: (code: number) => void): void => {
    const interrupted = Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
    const code = Exit.isSuccess(exit) || interrupted ? exitCode() : 1
    void flushStdio().then(() => onExit(code))
  }
