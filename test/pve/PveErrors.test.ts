/**
 * Every error mapping, seen by the real client against PVE's real answers as the simulator
 * gives them — and the token secret absent from all of them.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Exit, Layer, Schema } from "effect"
import { Redacted } from "effect"
import { GuestRef } from "../../src/domain/Guest.js"
import type { UpidString } from "../../src/domain/Upid.js"
import { MutationResult, Pve } from "../../src/pve/Pve.js"
import type { PveError, PveWaitError } from "../../src/pve/PveError.js"
import { pveOnSim, Sim } from "../support/sim.js"

const ref = (vmid: number, type: "qemu" | "lxc") => Schema.decodeSync(GuestRef)({ vmid, type, node: "pve1" })
const ADMIN_SECRET = "5f0c5a7e-1b2d-4c3e-8f9a-0b1c2d3e4f50"
const AUDIT_SECRET = "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"

const errors: Array<unknown> = []
const failureOf = <A, E extends PveWaitError>(effect: Effect.Effect<A, E>) =>
  Effect.flatMap(Effect.exit(effect), (exit) => {
    if (Exit.isFailure(exit) && exit.cause._tag === "Fail") {
      errors.push(exit.cause.error)
      return Effect.succeed(exit.cause.error)
    }
    return Effect.dieMessage(`expected a failure, got ${String(exit)}`)
  })

const upidOf = (result: MutationResult) =>
  MutationResult.$match(result, {
    Task: ({ upid }) => Effect.succeed<UpidString>(upid),
    Sync: () => Effect.dieMessage("expected a task")
  })

const simLayer = Sim.layer({
  tokens: [
    { tokenid: "felhom@pve!agent", secret: ADMIN_SECRET, privileges: [{ path: "/", privs: ["*"], propagate: true }] },
    {
      tokenid: "auditor@pve!ro",
      secret: AUDIT_SECRET,
      privileges: [{ path: "/vms", privs: ["VM.Audit"], propagate: true }]
    }
  ],
  guests: [
    { vmid: 100, type: "qemu", status: "running", config: { name: "web", memory: "2048" } },
    { vmid: 101, type: "qemu", status: "stopped", config: { name: "db", memory: "1024" } },
    {
      vmid: 200,
      type: "lxc",
      status: "running",
      config: { hostname: "ct", memory: 512, ostype: "debian", rootfs: "local-lvm:vm-200-disk-0,size=8G" }
    }
  ]
})

const admin = pveOnSim()
const auditor = pveOnSim({ token: { tokenId: "auditor@pve!ro", secret: Redacted.make(AUDIT_SECRET) } })
const wrongSecret = pveOnSim({
  token: { tokenId: "felhom@pve!agent", secret: Redacted.make("00000000-0000-0000-0000-000000000000") }
})

class Auditor extends Effect.Tag("test/Auditor")<Auditor, Pve["Type"]>() {}
class Stranger extends Effect.Tag("test/Stranger")<Stranger, Pve["Type"]>() {}

const layers = Layer.mergeAll(
  admin,
  Layer.effect(Auditor, Pve).pipe(Layer.provide(auditor)),
  Layer.effect(Stranger, Pve).pipe(Layer.provide(wrongSecret))
).pipe(Layer.provideMerge(simLayer))

describe("PVE error mapping end to end", () => {
  layer(layers, { excludeTestServices: true })((it) => {
    it.effect("401: a wrong secret is PveUnauthorized", () =>
      Effect.gen(function*() {
        const pve = yield* Stranger
        expect(yield* failureOf(pve.version)).toMatchObject({
          _tag: "PveUnauthorized",
          reason: "Authentication failed!"
        })
      }))

    it.effect("403: names the ACL path and the privilege", () =>
      Effect.gen(function*() {
        const pve = yield* Auditor
        expect(yield* failureOf(pve.power(ref(101, "qemu"), "start"))).toMatchObject({
          _tag: "PvePermissionDenied",
          aclPath: "/vms/101",
          privilege: "VM.PowerMgmt"
        })
      }))

    it.effect("missing config: PveNotFound for both guest types", () =>
      Effect.gen(function*() {
        const pve = yield* Pve
        const q = yield* failureOf(pve.config(ref(999, "qemu")))
        expect(q).toMatchObject({ _tag: "PveNotFound" })
        expect(q.message).toContain("nodes/pve1/qemu-server/999.conf")
        expect(yield* failureOf(pve.status(ref(998, "lxc")))).toMatchObject({ _tag: "PveNotFound" })
      }))

    it.effect("locked guest: PveGuestLocked with the lock", () =>
      Effect.gen(function*() {
        const pve = yield* Pve
        const sim = yield* Sim
        sim.cluster.setLock(101, "backup")
        const e = yield* failureOf(
          pve.setConfig(ref(101, "qemu"), { set: { description: "x" }, delete: [], mode: "sync" })
        )
        sim.cluster.clearLock(101)
        expect(e).toMatchObject({ _tag: "PveGuestLocked", lock: "backup" })
      }))

    it.effect("digest mismatch: both wordings map to PveDigestMismatch", () =>
      Effect.gen(function*() {
        const pve = yield* Pve
        const stale = "0".repeat(40)
        expect(
          yield* failureOf(
            pve.setConfig(ref(101, "qemu"), { set: { description: "x" }, delete: [], digest: stale, mode: "sync" })
          )
        )
          .toMatchObject({ _tag: "PveDigestMismatch", detail: "checksum mismatch (file change by other user?)" })
        expect(
          yield* failureOf(pve.setConfig(ref(200, "lxc"), { set: { description: "x" }, delete: [], digest: stale }))
        )
          .toMatchObject({
            _tag: "PveDigestMismatch",
            detail: "detected modified configuration - file changed by other user? Try again."
          })
      }))

    it.effect("already running / not running: PveGuestState (lxc answers synchronously)", () =>
      Effect.gen(function*() {
        const pve = yield* Pve
        expect(yield* failureOf(pve.power(ref(200, "lxc"), "start"))).toMatchObject({
          _tag: "PveGuestState",
          state: "running"
        })
        expect(yield* failureOf(pve.power(ref(101, "qemu"), "reboot"))).toMatchObject({
          _tag: "PveGuestState",
          state: "not running"
        })
      }))

    it.effect("qemu start of a running VM fails inside the task: PveTaskFailed with the exit status", () =>
      Effect.gen(function*() {
        const pve = yield* Pve
        const upid = yield* upidOf(yield* pve.power(ref(100, "qemu"), "start"))
        expect(yield* failureOf(pve.waitTask(upid, { deadline: "10 seconds" }))).toMatchObject({
          _tag: "PveTaskFailed",
          upid,
          exitstatus: "VM 100 already running"
        })
      }))

    it.effect("parameter errors keep PVE's errors map", () =>
      Effect.gen(function*() {
        const pve = yield* Pve
        const e = yield* failureOf(
          pve.setConfig(ref(101, "qemu"), { set: { tags: "bad tag!" }, delete: [], mode: "sync" })
        )
        expect(e._tag).toBe("PveParameterError")
        if (e._tag === "PveParameterError") expect(e.errors.tags).toContain("invalid characters in tag")
      }))

    it.effect("an injected failing task: PveTaskFailed; a stuck one: PveTimeout at the deadline", () =>
      Effect.gen(function*() {
        const pve = yield* Pve
        const sim = yield* Sim
        sim.cluster.setFaults({ failTasks: [{ vmid: 101, message: "storage gone" }] })
        const failing = yield* upidOf(yield* pve.createSnapshot(ref(101, "qemu"), { name: "s1" }))
        expect(yield* failureOf(pve.waitTask(failing, { deadline: "10 seconds" }))).toMatchObject({
          _tag: "PveTaskFailed",
          exitstatus: "storage gone"
        })
        sim.cluster.setFaults({ stuckTasks: [{ vmid: 101 }] })
        const stuck = yield* upidOf(yield* pve.createSnapshot(ref(101, "qemu"), { name: "s2" }))
        expect(yield* failureOf(pve.waitTask(stuck, { deadline: "300 millis" }))).toMatchObject({ _tag: "PveTimeout" })
        sim.cluster.clearFaults()
      }))

    it.effect("injected 5xx: PveApiError with the status", () =>
      Effect.gen(function*() {
        const pve = yield* Pve
        const sim = yield* Sim
        sim.cluster.setFaults({ errorRate: 1, errorStatus: 503, pathPattern: "^/version$" })
        const e = yield* failureOf(pve.version)
        sim.cluster.clearFaults()
        expect(e).toMatchObject({ _tag: "PveApiError", status: 503 })
      }))

    it.effect("unknown task: PveNotFound", () =>
      Effect.gen(function*() {
        const pve = yield* Pve
        const upid = "UPID:pve1:00000001:00000001:00000001:qmstart:100:felhom@pve!agent:" as UpidString
        expect(yield* failureOf(pve.taskStatus(upid))).toMatchObject({ _tag: "PveNotFound" })
      }))

    it.effect("the token secret appears in no error, message or cause", () =>
      Effect.sync(() => {
        expect(errors.length).toBeGreaterThan(8)
        for (const e of errors) {
          const text = [JSON.stringify(e), String(e), (e as PveError).message].join("\n")
          expect(text).not.toContain(ADMIN_SECRET)
          expect(text).not.toContain(AUDIT_SECRET)
          expect(text).not.toContain("00000000-0000-0000-0000-000000000000")
        }
      }))
  })
})
