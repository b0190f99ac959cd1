/**
 * A harness for recovery tests: a scripted Pve that implements only the reads recovery uses
 * (taskStatus, tasks, waitTask; any other call dies), one journaled op, and a record of the
 * PVE calls made. The same scenarios should also run against the PVE simulator.
 */
import { Duration, Effect, Layer, Logger, LogLevel, Option, Ref, Schema } from "effect"
import type { TaskListEntry, TaskStatus } from "../../src/domain/Task.js"
import { formatUpid, UpidString } from "../../src/domain/Upid.js"
import { Pve, type PveShape } from "../../src/pve/Pve.js"
import { PveTransport } from "../../src/pve/PveError.js"
import { Journal } from "../../src/state/Journal.js"
import type { OpIntentInput, OpRecord } from "../../src/state/OpRecord.js"
import { recover, type RecoverOptions } from "../../src/state/Recovery.js"
import { StateStore } from "../../src/state/StateStore.js"
import { intentFor } from "./support.js"

export const USER = "felhom@pve!agent"
export const now = () => Math.floor(Date.now() / 1000)

export const mkUpid = (type: string, opts: { vmid?: number; user?: string; starttime?: number; pid?: number } = {}) =>
  Schema.decodeSync(UpidString)(formatUpid({
    node: "pve1",
    pid: opts.pid ?? 0x1234,
    pstart: 0xabcdef,
    // A second from now: the task started after the op's intent, which each scenario journals
    // after building its UPIDs; `now()` could fall a second before the intent and be filtered out.
    starttime: opts.starttime ?? now() + 1,
    type,
    id: String(opts.vmid ?? 100),
    user: opts.user ?? USER
  }))

export const status = (upid: UpidString, state: "running" | "stopped", exitstatus?: string): TaskStatus => ({
  upid,
  node: "pve1",
  pid: 0x1234,
  pstart: 0xabcdef,
  starttime: now(),
  type: "qmstart",
  id: "100",
  user: "felhom@pve",
  tokenid: "agent",
  status: state,
  ...(exitstatus === undefined ? {} : { exitstatus })
})

export const row = (upid: UpidString, type: string): TaskListEntry => ({
  upid,
  node: "pve1",
  pid: 0x1234,
  pstart: 0xabcdef,
  starttime: now(),
  type,
  id: "100",
  user: "felhom@pve",
  tokenid: "agent",
  status: "OK"
})

const unused = (name: string) => Effect.die(`recovery must not call Pve.${name}`)
export const pveLayer = (calls: Ref.Ref<ReadonlyArray<string>>, impl: Partial<PveShape>) => {
  const log = (name: string) => Ref.update(calls, (c) => [...c, name])
  const base: PveShape = {
    version: unused("version"),
    nodes: unused("nodes"),
    clusterStatus: unused("clusterStatus"),
    guests: unused("guests"),
    status: () => unused("status"),
    power: () => unused("power"),
    config: () => unused("config"),
    pending: () => unused("pending"),
    setConfig: () => unused("setConfig"),
    snapshots: () => unused("snapshots"),
    createSnapshot: () => unused("createSnapshot"),
    rollbackSnapshot: () => unused("rollbackSnapshot"),
    deleteSnapshot: () => unused("deleteSnapshot"),
    taskStatus: () => unused("taskStatus"),
    taskLog: () => unused("taskLog"),
    tasks: () => unused("tasks"),
    permissions: () => unused("permissions"),
    waitTask: () => unused("waitTask"),
    // The harness's PVE shares our clock unless a scenario says otherwise.
    clockSkew: Effect.succeed(Option.some(0)),
    requestCount: Effect.succeed(0)
  }
  return Layer.succeed(Pve, {
    ...base,
    ...impl,
    taskStatus: (u) => Effect.zipRight(log("taskStatus"), (impl.taskStatus ?? base.taskStatus)(u)),
    tasks: (n, f) => Effect.zipRight(log(`tasks ${JSON.stringify(f)}`), (impl.tasks ?? base.tasks)(n, f)),
    waitTask: (u, o) => Effect.zipRight(log("waitTask"), (impl.waitTask ?? base.waitTask)(u, o))
  })
}

export interface Scenario {
  readonly op?: Partial<OpIntentInput>
  /** A UPID already journaled for the op (in-flight), or none (intent only). */
  readonly upid?: UpidString
  readonly pve: Partial<PveShape>
  readonly postState?: Effect.Effect<boolean, string>
  readonly options?: Partial<RecoverOptions<string, never>>
  /** Journal history written before the op under test (e.g. earlier ops of the same guest). */
  readonly before?: Effect.Effect<void, unknown, Journal>
}

/** Journals one op, recovers, answers the summary, the op afterwards and the PVE calls made. */
export const runScenario = (s: Scenario) =>
  Effect.gen(function*() {
    const calls = yield* Ref.make<ReadonlyArray<string>>([])
    const checked = yield* Ref.make<ReadonlyArray<OpRecord>>([])
    const layer = Layer.mergeAll(
      Journal.layer.pipe(Layer.provide(StateStore.layerMemory)),
      pveLayer(calls, s.pve)
    )
    return yield* Effect.gen(function*() {
      const journal = yield* Journal
      if (s.before !== undefined) yield* Effect.orDie(s.before)
      yield* journal.intent(intentFor(s.op))
      if (s.upid !== undefined) yield* journal.recordUpid("op-1", s.upid)
      const summary = yield* recover({
        checkPostState: (op) =>
          Effect.zipRight(Ref.update(checked, (c) => [...c, op]), s.postState ?? Effect.die("no check")),
        retryBase: Duration.millis(1),
        readRetries: 2,
        ...s.options
      })
      const op = yield* journal.get("op-1")
      if (op._tag === "None") return yield* Effect.die("op vanished")
      const history = yield* journal.history("op-1")
      return {
        summary,
        op: op.value,
        phases: history.map((h) => h.phase),
        calls: yield* Ref.get(calls),
        checks: (yield* Ref.get(checked)).length
      }
    }).pipe(Effect.provide(layer), Logger.withMinimumLogLevel(LogLevel.None))
  })

export const transport = new PveTransport({
  method: "GET",
  path: "/nodes/pve1/tasks",
  requestSent: true,
  reason: "ECONNRESET"
})
