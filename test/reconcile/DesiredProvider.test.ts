import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import {
  Context,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  FiberRef,
  HashSet,
  Layer,
  Logger,
  Option,
  Queue,
  Stream,
  TestClock
} from "effect"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DesiredProvider, parseDesiredText } from "../../src/reconcile/DesiredProvider.js"

const POLL = Duration.seconds(5)

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "felhom-desired-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)
const write = (path: string, text: string) => Effect.promise(() => writeFile(path, text, "utf8"))
/** Lets real file I/O progress between virtual-clock steps. */
const realTick = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 5)))

/**
 * Moves the virtual clock one poll interval at a time until `fiber` is done: the poll reads the
 * file with real I/O, so a single adjust could land before the poller re-arms its timer.
 */
const joinWhileTicking = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 400; i++) {
      const done = yield* Fiber.poll(fiber)
      if (Option.isSome(done)) return yield* Fiber.join(fiber)
      yield* TestClock.adjust(POLL)
      yield* realTick
    }
    return yield* Effect.dieMessage("gave up waiting for the poller")
  })

/** Builds the File layer in the test's scope, so its poller lives as long as the test. */
const provider = (path: string) =>
  Layer.build(DesiredProvider.File({ path, pollInterval: POLL }).pipe(Layer.provide(NodeFileSystem.layer))).pipe(
    Effect.map(Context.get(DesiredProvider))
  )

describe("DesiredProvider.Empty", () => {
  it.effect("is an empty document: no guest is ever desired", () =>
    Effect.gen(function*() {
      const p = yield* DesiredProvider
      expect(yield* p.current).toEqual({ guests: {} })
    }).pipe(Effect.provide(DesiredProvider.Empty)))
})

describe("parseDesiredText", () => {
  it("reads JSON by extension and by content, YAML otherwise", () => {
    expect(Either.isRight(parseDesiredText(`{"guests":{"100":{"power":"running"}}}`, "d.json"))).toBe(true)
    expect(Either.isRight(parseDesiredText(`{"guests":{}}`, "desired"))).toBe(true)
    expect(Either.isRight(parseDesiredText("guests:\n  '100':\n    power: stopped\n", "d.yml"))).toBe(true)
    const bad = parseDesiredText("guests: [", "d.yaml")
    expect(Either.isLeft(bad) && bad.left.issues[0]?.message).toContain("invalid YAML")
    const badJson = parseDesiredText("{", "d.json")
    expect(Either.isLeft(badJson) && badJson.left.issues[0]?.message).toContain("invalid JSON")
  })
})

describe("DesiredProvider.File", () => {
  it.scoped("reads a JSON file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = join(dir, "desired.json")
      yield* write(
        path,
        JSON.stringify({ revision: "r1", guests: { "100": { power: "running", config: { cores: 2 } } } })
      )
      const p = yield* provider(path)
      expect(yield* p.current).toEqual({
        revision: "r1",
        guests: { "100": { power: "running", config: { cores: 2 } } }
      })
    }))

  it.scoped("reads a YAML file (booleans become 1/0)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = join(dir, "desired.yaml")
      yield* write(
        path,
        "revision: r2\nguests:\n  \"101\":\n    power: stopped\n    config:\n      onboot: true\n      tags: null\n"
      )
      const p = yield* provider(path)
      expect(yield* p.current).toEqual({
        revision: "r2",
        guests: { "101": { power: "stopped", config: { onboot: 1, tags: null } } }
      })
    }))

  it.scoped("picks up a change and signals it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = join(dir, "desired.json")
      yield* write(path, JSON.stringify({ revision: "r1", guests: {} }))
      const p = yield* provider(path)
      const changed = yield* p.changes.pipe(Stream.take(1), Stream.runDrain, Effect.fork)
      yield* write(path, JSON.stringify({ revision: "r2", guests: { "100": { power: "running" } } }))
      yield* joinWhileTicking(changed)
      expect(yield* p.current).toEqual({ revision: "r2", guests: { "100": { power: "running" } } })
    }))

  it.scoped("a bad edit is rejected with every bad path logged, and the last good document stays", () =>
    Effect.gen(function*() {
      const logs = yield* Queue.unbounded<string>()
      const capture = Logger.make(({ annotations, message }) => {
        const issues = [...annotations].find(([k]) => k === "issues")?.[1]
        Queue.unsafeOffer(logs, `${String(message)} ${String(issues)}`)
      })
      const dir = yield* tempDir
      const path = join(dir, "desired.json")
      const good = { revision: "r1", guests: { "100": { power: "running" } } }
      yield* write(path, JSON.stringify(good))
      // The poller is forked while the provider is built, so it inherits this logger.
      const p = yield* provider(path).pipe(Effect.locallyWith(FiberRef.currentLoggers, HashSet.add(capture)))
      const rejected = yield* Queue.take(logs).pipe(
        Effect.repeat({ until: (l) => l.includes("rejected") }),
        Effect.fork
      )
      yield* write(
        path,
        JSON.stringify({ revision: "r2", guests: { "12": {}, "100": { power: "on", config: { digest: "x" } } } })
      )
      const line = yield* joinWhileTicking(rejected)
      for (const bad of ["guests.12", "guests.100.power", "guests.100.config.digest"]) expect(line).toContain(bad)
      expect(yield* p.current).toEqual(good)
      // A good edit after the bad one is taken up again.
      const changed = yield* p.changes.pipe(Stream.take(1), Stream.runDrain, Effect.fork)
      yield* write(path, JSON.stringify({ revision: "r3", guests: {} }))
      yield* joinWhileTicking(changed)
      expect((yield* p.current).revision).toBe("r3")
    }))

  it.scoped("a bad file at start fails the layer, naming each bad path", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = join(dir, "desired.yaml")
      yield* write(path, "guests:\n  \"99\": {}\n  \"100\":\n    config:\n      lock: backup\n")
      const exit = yield* Effect.exit(provider(path))
      expect(Exit.isFailure(exit)).toBe(true)
      const error = Exit.isFailure(exit) ? exit.cause.toString() : ""
      expect(error).toContain("guests.99")
      expect(error).toContain("guests.100.config.lock")
    }))

  it.scoped("a missing file at start fails the layer", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const exit = yield* Effect.exit(provider(join(dir, "nope.json")))
      expect(Exit.isFailure(exit)).toBe(true)
    }))
})
