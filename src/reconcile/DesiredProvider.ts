/**
 * The desired-state seam (docs/architecture.md, "A reconcile pass"): where the reconciler learns what the
 * guests should look like. `Empty` is the default and never names a guest, so the daemon
 * plans zero actions (invariant 7). `File` reads a JSON or YAML document and re-reads it when
 * it changes; a bad document is rejected with every bad path named, and the last good one
 * stays in force — nothing of a bad document is ever applied.
 */
import { FileSystem } from "@effect/platform"
import { Context, Duration, Effect, Either, Layer, PubSub, Ref, Schedule, Schema, Stream } from "effect"
import { parseDocument } from "yaml"
import {
  decodeDesiredState,
  type DesiredState,
  DesiredStateInvalid,
  emptyDesiredState
} from "../domain/DesiredState.js"
import { DEFAULT_MAX_DOCUMENT_BYTES, documentText } from "../domain/documentBytes.js"
import { fileErrorReason } from "../domain/fileError.js"
import { parseStrictJson } from "../domain/strictJson.js"

export class DesiredFileUnreadable extends Schema.TaggedError<DesiredFileUnreadable>()("DesiredFileUnreadable", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot read desired state file ${this.path}: ${this.reason}`
  }
}

export type DesiredFileError = DesiredFileUnreadable | DesiredStateInvalid

export interface DesiredProviderShape {
  /** The document in force now (the last good one for `File`). */
  readonly current: Effect.Effect<DesiredState>
  /** One element each time the document in force changed: a trigger for a reconcile pass. */
  readonly changes: Stream.Stream<void>
}

export interface FileOptions {
  readonly path: string
  /** Documents larger than this are refused unread (default 1 MiB). */
  readonly maxBytes?: number
  /** How often the file is checked (default 2 s); driven by the Effect clock, so TestClock moves it. */
  readonly pollInterval?: Duration.DurationInput
}

type Format = "json" | "yaml"

const formatOf = (path: string, text: string): Format => {
  const lower = path.toLowerCase()
  if (lower.endsWith(".json")) return "json"
  if (lower.endsWith(".yaml") || lower.endsWith(".yml")) return "yaml"
  // Unknown extension: JSON documents start with `{`; anything else is read as YAML.
  return text.trimStart().startsWith("{") ? "json" : "yaml"
}

const syntaxError = (source: string, message: string): DesiredStateInvalid =>
  new DesiredStateInvalid({ source, issues: [{ path: "", message }] })

/** Text → document, every failure as one typed error naming its paths. */
export const parseDesiredText = (text: string, source: string): Either.Either<DesiredState, DesiredStateInvalid> => {
  if (formatOf(source, text) === "json") {
    // Duplicate keys are refused: JSON.parse would silently keep the last one.
    const parsed = Either.mapLeft(parseStrictJson(text), (reason) => syntaxError(source, `invalid JSON: ${reason}`))
    return Either.flatMap(parsed, (u) => decodeDesiredState(u, source))
  }
  const doc = parseDocument(text)
  const first = doc.errors[0]
  // The yaml library appends a source excerpt on further lines; the first line names line and column.
  if (first !== undefined) {
    return Either.left(syntaxError(source, `invalid YAML: ${(first.message.split("\n")[0] ?? "").replace(/:$/, "")}`))
  }
  // An empty YAML file is null, which the schema refuses: say "no guests" explicitly instead.
  return decodeDesiredState(doc.toJS(), source)
}

/** Bytes → document: the size and UTF-8 checks every outside document passes first. */
export const parseDesiredBytes = (
  bytes: Uint8Array,
  source: string,
  maxBytes: number = DEFAULT_MAX_DOCUMENT_BYTES
): Either.Either<DesiredState, DesiredStateInvalid> =>
  Either.flatMap(
    Either.mapLeft(documentText(bytes, maxBytes), (reason) => syntaxError(source, `the document is ${reason}`)),
    (text) => parseDesiredText(text, source)
  )

/**
 * A file's first `maxBytes + 1` bytes at most: enough to tell a document that is too large,
 * never a whole /dev/zero.
 */
export const readDocumentBytes = (path: string, maxBytes: number = DEFAULT_MAX_DOCUMENT_BYTES) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    fs.stream(path, { bytesToRead: maxBytes + 1 }).pipe(
      Stream.runCollect,
      Effect.map((chunks) => Buffer.concat([...chunks])),
      Effect.mapError((e) => new DesiredFileUnreadable({ path, reason: fileErrorReason(e) }))
    ))

/** The file's bytes, and a string form of them (one char per byte) to tell a change by. */
const readDocument = (path: string, maxBytes: number | undefined) =>
  Effect.map(readDocumentBytes(path, maxBytes), (bytes) => ({ bytes, seen: bytes.toString("latin1") }))

interface FileState {
  readonly good: DesiredState
  /** Raw text last seen, good or bad: an unchanged file is neither re-decoded nor re-logged. */
  readonly seen: string
}

/** Marks "the file could not be read" in `seen`; a desired-state text file never equals it. */
const UNREADABLE = "\u0000unreadable"

/** One poll: decide whether the file changed, and whether the change is accepted. */
const pollOnce = (
  fs: FileSystem.FileSystem,
  options: FileOptions,
  state: Ref.Ref<FileState>,
  pubsub: PubSub.PubSub<void>
) =>
  Effect.gen(function*() {
    const path = options.path
    const { bytes, seen } = yield* readDocument(path, options.maxBytes)
    const before = yield* Ref.get(state)
    if (seen === before.seen) return
    const parsed = parseDesiredBytes(bytes, path, options.maxBytes)
    if (Either.isLeft(parsed)) {
      yield* Ref.set(state, { ...before, seen })
      yield* Effect.logError("desired state rejected; the last good document stays in force").pipe(
        Effect.annotateLogs({ path, issues: parsed.left.issues.map((i) => `${i.path}: ${i.message}`).join("; ") })
      )
      return
    }
    yield* Ref.set(state, { good: parsed.right, seen })
    yield* Effect.logInfo("desired state updated").pipe(
      Effect.annotateLogs({ path, revision: parsed.right.revision ?? "" })
    )
    yield* PubSub.publish(pubsub, undefined)
  }).pipe(
    // A missing or unreadable file (an editor mid-rename) keeps the last good document; it is
    // logged once, not on every poll, and the file is decoded afresh when it reappears.
    Effect.catchTag("DesiredFileUnreadable", (e) =>
      Ref.modify(state, (s) =>
        [s.seen !== UNREADABLE, { ...s, seen: UNREADABLE }] as const).pipe(
          Effect.flatMap((
            first
          ) => (first ? Effect.logWarning(`${e.message}; the last good document stays in force`) : Effect.void))
        )),
    Effect.provideService(FileSystem.FileSystem, fs)
  )

/**
 * A bad file at start fails the layer with the typed error naming each bad path: a
 * misconfigured daemon never starts on a guessed state. Later bad edits keep the last good one.
 */
const makeFile = (options: FileOptions) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const { bytes, seen } = yield* Effect.provideService(
      readDocument(options.path, options.maxBytes),
      FileSystem.FileSystem,
      fs
    )
    const initial = yield* Either.match(parseDesiredBytes(bytes, options.path, options.maxBytes), {
      onLeft: (e) => Effect.fail<DesiredFileError>(e),
      onRight: (d) => Effect.succeed(d)
    })
    const state = yield* Ref.make<FileState>({ good: initial, seen })
    const pubsub = yield* Effect.acquireRelease(PubSub.unbounded<void>(), PubSub.shutdown)
    const interval = options.pollInterval ?? Duration.seconds(2)
    yield* pollOnce(fs, options, state, pubsub).pipe(
      Effect.repeat(Schedule.spaced(interval)),
      Effect.delay(interval),
      Effect.forkScoped
    )
    return {
      current: Effect.map(Ref.get(state), (s) => s.good),
      changes: Stream.fromPubSub(pubsub)
    } satisfies DesiredProviderShape
  })

export class DesiredProvider extends Context.Tag("felhom/DesiredProvider")<DesiredProvider, DesiredProviderShape>() {
  /** The default: no guest is desired, so nothing is ever mutated (invariant 7). */
  static readonly Empty: Layer.Layer<DesiredProvider> = Layer.succeed(DesiredProvider, {
    current: Effect.succeed(emptyDesiredState),
    changes: Stream.never
  })

  /** A fixed document, for tests and the demo. */
  static readonly Static = (document: DesiredState): Layer.Layer<DesiredProvider> =>
    Layer.succeed(DesiredProvider, { current: Effect.succeed(document), changes: Stream.never })

  /** A watched JSON/YAML file (format by extension, else by content), polled every `pollInterval`. */
  static readonly File = (
    options: FileOptions
  ): Layer.Layer<DesiredProvider, DesiredFileError, FileSystem.FileSystem> =>
    Layer.scoped(DesiredProvider, makeFile(options))
}
