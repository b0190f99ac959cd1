/** Recovery of ops journaled without a UPID: task-list search, adoption, re-observation. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger, LogLevel, Option, Ref } from "effect"
import { Journal } from "../../src/state/Journal.js"
import { recover } from "../../src/state/Recovery.js"
import { StateStore } from "../../src/state/StateStore.js"
import { mkUpid, now, pveLayer, row, runScenario, status, transport, USER } from "./recoveryHarness.js"
import { intentFor } from "./support.js"

describe("recover: no UPID journaled", () => {
  const since = () => now()

  it.live("exactly one matching task → adopts its UPID and resolves it", () =>
    Effect.gen(function*() {
      const ours = mkUpid("qmstart")
      const r = yield* runScenario({
        pve: {
          tasks: () =>
            Effect.succeed([
              row(ours, "qmstart"),
              row(ours, "qmstart"), // listed twice by source=all: still one task
              row(mkUpid("qmstop", { pid: 2 }), "qmstop"),
              row(mkUpid("qmstart", { pid: 3, user: "root@pam" }), "qmstart"),
              row(mkUpid("qmstart", { pid: 4, vmid: 101 }), "qmstart"),
              row(mkUpid("qmstart", { pid: 5, starttime: since() - 600 }), "qmstart")
            ]),
          taskStatus: (u) => (u === ours ? Effect.succeed(status(ours, "stopped", "OK")) : Effect.die("wrong upid"))
        },
        postState: Effect.succeed(true)
      })
      expect(r.op.phase).toBe("done")
      expect(r.op.upid).toBe(ours)
      expect(r.op.detail?.upids).toEqual([ours])
      expect(r.phases).toEqual(["intent", "in-flight", "done"])
      const search = r.calls[0] ?? ""
      expect(search).toContain(`"source":"all"`)
      expect(search).toContain(`"vmid":100`)
      expect(search).toContain(`"userfilter":"${USER}"`)
      expect(search).toContain(`"since":`)
    }))

  it.live("an adopted task that ended OK is done only if the guest shows the change", () =>
    Effect.gen(function*() {
      const task = mkUpid("qmstart")
      const r = yield* runScenario({
        pve: {
          tasks: () => Effect.succeed([row(task, "qmstart")]),
          taskStatus: () => Effect.succeed(status(task, "stopped", "OK"))
        },
        postState: Effect.succeed(false)
      })
      expect(r.op.phase).toBe("failed")
      expect(r.op.detail?.errorTag).toBe("NotApplied")
      expect(r.op.detail?.message).toContain(`task ${task} (found in PVE's task list) ended OK`)
      // Not recorded as this op's task: it belongs to whichever op really sent it.
      expect(r.op.upid).toBeNull()
      expect(r.checks).toBe(1)
    }))

  it.live("a task that started before the op's intent by PVE's clock is never adopted", () =>
    Effect.gen(function*() {
      // PVE's clock runs 30 s ahead: a task stamped 10 s ahead of our clock started 20 s before the intent.
      const older = mkUpid("qmstart", { starttime: now() + 10 })
      const r = yield* runScenario({
        pve: {
          tasks: () => Effect.succeed([row(older, "qmstart")]),
          taskStatus: () => Effect.die("adopted a task older than the op"),
          clockSkew: Effect.succeed(Option.some(30_000))
        },
        postState: Effect.succeed(false)
      })
      expect(r.op.phase).toBe("failed")
      expect(r.op.upid).toBeNull()
      expect(r.op.detail?.message).toBe("no task of ours found: not applied")
    }))

  it.live("a task that started after the intent by PVE's clock is adopted, however far our clocks differ", () =>
    Effect.gen(function*() {
      // PVE's clock runs 5 minutes behind ours: its UPID's start time is "before" our intent.
      const task = mkUpid("qmstart", { starttime: now() - 300 })
      const r = yield* runScenario({
        pve: {
          tasks: () => Effect.succeed([row(task, "qmstart")]),
          taskStatus: () => Effect.succeed(status(task, "stopped", "OK")),
          clockSkew: Effect.succeed(Option.some(-300_000))
        },
        postState: Effect.succeed(true)
      })
      expect(r.op.phase).toBe("done")
      expect(r.op.upid).toBe(task)
    }))

  it.live("no matching task → re-observes: post-state seen → done (confirmed by observation)", () =>
    Effect.gen(function*() {
      const r = yield* runScenario({ pve: { tasks: () => Effect.succeed([]) }, postState: Effect.succeed(true) })
      expect(r.op.phase).toBe("done")
      expect(r.op.detail?.message).toBe("no task of ours found: done (confirmed by observation)")
    }))

  it.live("no matching task → re-observes: post-state not seen → failed (not applied)", () =>
    Effect.gen(function*() {
      const r = yield* runScenario({ pve: { tasks: () => Effect.succeed([]) }, postState: Effect.succeed(false) })
      expect(r.op.phase).toBe("failed")
      expect(r.op.detail?.message).toBe("no task of ours found: not applied")
    }))

  it.live("several matching tasks → needs-operator with their UPIDs", () =>
    Effect.gen(function*() {
      const a = mkUpid("qmstart", { pid: 10 })
      const b = mkUpid("qmstart", { pid: 11 })
      const r = yield* runScenario({ pve: { tasks: () => Effect.succeed([row(a, "qmstart"), row(b, "qmstart")]) } })
      expect(r.op.phase).toBe("needs-operator")
      expect(r.op.detail?.upids).toEqual([a, b])
      expect(r.summary.counts["needs-operator"]).toBe(1)
    }))

  it.live("tasks the journal assigns to other ops are not candidates: a busy guest's op is still adopted", () =>
    Effect.gen(function*() {
      const earlier = mkUpid("qmstart", { pid: 10 })
      const ours = mkUpid("qmstart", { pid: 11 })
      const r = yield* runScenario({
        // An earlier op of the same guest, inside the search window, with its task on record.
        before: Effect.gen(function*() {
          const journal = yield* Journal
          yield* journal.intent(intentFor({ opId: "op-0" }))
          yield* journal.recordUpid("op-0", earlier)
          yield* journal.finish("op-0", { message: "task finished", exitstatus: "OK" })
        }),
        pve: {
          tasks: () => Effect.succeed([row(earlier, "qmstart"), row(ours, "qmstart")]),
          taskStatus: (
            u
          ) => (u === ours ? Effect.succeed(status(ours, "stopped", "OK")) : Effect.die("adopted the other op's task"))
        },
        postState: Effect.succeed(true)
      })
      expect(r.op.phase).toBe("done")
      expect(r.op.upid).toBe(ours)
    }))

  it.live("a task list read that keeps failing leaves the op in intent", () =>
    Effect.gen(function*() {
      const r = yield* runScenario({ pve: { tasks: () => Effect.fail(transport) }, postState: Effect.succeed(true) })
      expect(r.op.phase).toBe("intent")
      expect(r.checks).toBe(0)
      expect(r.summary.counts.unresolved).toBe(1)
    }))

  it.live("a post-state no check can ever decide → needs-operator at once, never left unresolved", () =>
    Effect.gen(function*() {
      const r = yield* runScenario({
        pve: { tasks: () => Effect.succeed([]) },
        postState: Effect.fail("action unknown to the checker"),
        options: { undecidable: (e) => (e === "action unknown to the checker" ? "not an engine action" : undefined) }
      })
      expect(r.op.phase).toBe("needs-operator")
      expect(r.op.detail?.message).toContain("cannot tell whether it was applied: not an engine action")
      expect(r.checks).toBe(1)
      expect(r.summary.counts.unresolved).toBe(0)
    }))

  it.live("a post-state check that keeps failing leaves the op unfinished", () =>
    Effect.gen(function*() {
      const r = yield* runScenario({ pve: { tasks: () => Effect.succeed([]) }, postState: Effect.fail("PVE down") })
      expect(r.op.phase).toBe("intent")
      expect(r.checks).toBe(3)
      expect(r.summary.counts.unresolved).toBe(1)
    }))

  it.live("lxc set-config has no task: straight to re-observe, no task-list search", () =>
    Effect.gen(function*() {
      const r = yield* runScenario({
        op: { guestType: "lxc", action: "set-config", params: { set: { memory: 1024 }, delete: [] } },
        pve: {},
        postState: Effect.succeed(true)
      })
      expect(r.op.phase).toBe("done")
      expect(r.calls).toEqual([])
    }))

  it.live("qemu sync set-config has no task; async set-config searches qmconfig", () =>
    Effect.gen(function*() {
      const sync = yield* runScenario({
        op: { action: "set-config", params: { set: { memory: 1024 }, delete: [], mode: "sync" } },
        pve: {},
        postState: Effect.succeed(false)
      })
      expect(sync.op.phase).toBe("failed")
      expect(sync.calls).toEqual([])
      const task = mkUpid("qmconfig")
      const async = yield* runScenario({
        op: { action: "set-config", params: { set: { memory: 1024 }, delete: [], mode: "async" } },
        pve: {
          tasks: () => Effect.succeed([row(task, "qmconfig"), row(mkUpid("qmstart", { pid: 9 }), "qmstart")]),
          taskStatus: () => Effect.succeed(status(task, "stopped", "OK"))
        },
        postState: Effect.succeed(true)
      })
      expect(async.op.phase).toBe("done")
      expect(async.op.upid).toBe(task)
    }))

  it.live("lxc actions match vz* task types", () =>
    Effect.gen(function*() {
      const task = mkUpid("vzshutdown")
      const r = yield* runScenario({
        op: { guestType: "lxc", action: "shutdown" },
        pve: {
          tasks: () => Effect.succeed([row(mkUpid("qmshutdown", { pid: 8 }), "qmshutdown"), row(task, "vzshutdown")]),
          taskStatus: () => Effect.succeed(status(task, "stopped", "OK"))
        },
        postState: Effect.succeed(true)
      })
      expect(r.op.upid).toBe(task)
      expect(r.op.phase).toBe("done")
    }))

  it.live("an action with no known task type is flagged, not guessed", () =>
    Effect.gen(function*() {
      const r = yield* runScenario({ op: { action: "migrate" }, pve: {} })
      expect(r.op.phase).toBe("needs-operator")
      expect(r.calls).toEqual([])
    }))
})

describe("recover: summary", () => {
  it.live("an empty journal recovers nothing", () =>
    Effect.gen(function*() {
      const calls = yield* Ref.make<ReadonlyArray<string>>([])
      const summary = yield* recover({ checkPostState: () => Effect.succeed(true) }).pipe(
        Logger.withMinimumLogLevel(LogLevel.None),
        Effect.provide(Layer.mergeAll(Journal.layer.pipe(Layer.provide(StateStore.layerMemory)), pveLayer(calls, {})))
      )
      expect(summary.total).toBe(0)
      expect(summary.outcomes).toEqual([])
    }))
})
