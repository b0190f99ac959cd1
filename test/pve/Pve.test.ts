/**
 * Every Pve client call against the simulator over HTTPS on 127.0.0.1, with the real layers.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { GuestRef } from "../../src/domain/Guest.js"
import { MutationResult, Pve } from "../../src/pve/Pve.js"
import { Sim, simWithPve } from "../support/sim.js"

const ref = (vmid: number, type: "qemu" | "lxc", node = "pve1") => Schema.decodeSync(GuestRef)({ vmid, type, node })

const qemu = ref(100, "qemu")
const lxc = ref(200, "lxc")
const stoppedVm = ref(101, "qemu")

const upidOf = (result: MutationResult) =>
  MutationResult.$match(result, {
    Task: ({ upid }) => Effect.succeed(upid),
    Sync: () => Effect.dieMessage("expected a task, got a synchronous answer")
  })

const guests = [
  {
    vmid: 100,
    type: "qemu" as const,
    status: "running" as const,
    config: { name: "web", memory: "2048", cores: 2, description: "front" }
  },
  { vmid: 101, type: "qemu" as const, status: "stopped" as const, config: { name: "db", memory: "1024" } },
  {
    vmid: 200,
    type: "lxc" as const,
    status: "running" as const,
    config: { hostname: "cache", memory: 512, ostype: "debian", rootfs: "local-lvm:vm-200-disk-0,size=8G" }
  },
  {
    vmid: 201,
    type: "lxc" as const,
    status: "stopped" as const,
    config: { hostname: "idle", memory: 256, ostype: "debian", rootfs: "local-lvm:vm-201-disk-0,size=4G" }
  }
]

describe("Pve client against the simulator", () => {
  // Live clock: the simulator runs tasks on real timers.
  layer(simWithPve({ guests, nodes: ["pve1", "pve2"] }), { excludeTestServices: true })((it) => {
    it.effect("version, nodes (with the pinned fingerprint) and cluster guests", () =>
      Effect.gen(function*() {
        const pve = yield* Pve
        const sim = yield* Sim
        const version = yield* pve.version
        expect(version.version).toMatch(/^\d+\.\d+/)
        const nodes = yield* pve.nodes
        expect(nodes.map((n) => n.node).sort()).toEqual(["pve1", "pve2"])
        expect(nodes[0]?.ssl_fingerprint).toBe(sim.fingerprint)
        const all = yield* pve.guests
        expect(all.map((g) => `${g.type}/${g.vmid}`).sort()).toEqual(["lxc/200", "lxc/201", "qemu/100", "qemu/101"])
        expect(all.find((g) => g.vmid === 100)).toMatchObject({ id: "qemu/100", node: "pve1", type: "qemu" })
      }))

    it.effect("status/current reads running and stopped guests", () =>
      Effect.gen(function*() {
        const pve = yield* Pve
        expect((yield* pve.status(qemu)).status).toBe("running")
        expect((yield* pve.status(stoppedVm)).status).toBe("stopped")
        expect((yield* pve.status(lxc)).ha?.managed).toBe(0)
      }))

    it.effect("config: pending merged by default, live values with current, and /pending", () =>
      Effect.gen(function*() {
        const pve = yield* Pve
        const before = yield* pve.config(qemu)
        expect(before.digest).toMatch(/^[0-9a-f]{40}$/)
        // cores on a running qemu guest stays pending until the next start (qemu-server
        // `PVE::QemuServer::vmconfig_hotplug_pending`).
        const result = yield* pve.setConfig(qemu, {
          set: { cores: 4 },
          delete: [],
          digest: before.digest,
          mode: "sync"
        })
        expect(result._tag).toBe("Sync")
        expect((yield* pve.config(qemu)).values.cores).toBe(4)
        expect((yield* pve.config(qemu, { current: true })).values.cores).toBe(2)
        const pending = yield* pve.pending(qemu)
        expect(pending.find((e) => e.key === "cores")).toMatchObject({ value: 2, pending: 4 })
        expect(pending.some((e) => e.key === "digest")).toBe(true)
      }))

    it.effect("qemu config POST answers a qmconfig task; lxc PUT answers synchronously", () =>
      Effect.gen(function*() {
        const pve = yield* Pve
        const asyncResult = yield* pve.setConfig(stoppedVm, { set: { description: "async write" }, delete: [] })
        const upid = yield* upidOf(asyncResult)
        expect(upid).toContain(":qmconfig:101:felhom@pve!agent:")
        const done = yield* pve.waitTask(upid, { deadline: "10 seconds" })
        expect(done.exitstatus).toBe("OK")
        expect((yield* pve.config(stoppedVm)).values.description).toBe("async write")
        const lxcResult = yield* pve.setConfig(lxc, { set: { description: "ct note" }, delete: [] })
        expect(lxcResult._tag).toBe("Sync")
        // lxc reads back with exactly one trailing newline (pve-container `PVE::LXC::Config::parse_pct_config`).
        expect((yield* pve.config(lxc)).values.description).toBe("ct note\n")
      }))

    it.effect("delete removes a key", () =>
      Effect.gen(function*() {
        const pve = yield* Pve
        yield* pve.setConfig(lxc, { set: { onboot: 1 }, delete: [] })
        expect((yield* pve.config(lxc)).values.onboot).toBe(1)
        yield* pve.setConfig(lxc, { set: {}, delete: ["onboot"] })
        expect((yield* pve.config(lxc)).values.onboot).toBeUndefined()
      }))

    it.effect("power: start, shutdown, stop and reboot are tasks that change the guest", () =>
      Effect.gen(function*() {
        const pve = yield* Pve
        const guest = ref(201, "lxc")
        const started = yield* upidOf(yield* pve.power(guest, "start"))
        expect(started).toContain(":vzstart:201:")
        yield* pve.waitTask(started, { deadline: "10 seconds" })
        expect((yield* pve.status(guest)).status).toBe("running")
        const rebooted = yield* upidOf(yield* pve.power(guest, "reboot"))
        yield* pve.waitTask(rebooted, { deadline: "10 seconds" })
        expect((yield* pve.status(guest)).status).toBe("running")
        const shut = yield* upidOf(yield* pve.power(guest, "shutdown", { timeout: 30, forceStop: true }))
        yield* pve.waitTask(shut, { deadline: "10 seconds" })
        expect((yield* pve.status(guest)).status).toBe("stopped")
        // qemu stop of a stopped VM is a task that ends OK (qemu-server `PVE::QemuServer::_do_vm_stop`).
        const noop = yield* upidOf(yield* pve.power(stoppedVm, "stop"))
        expect((yield* pve.waitTask(noop, { deadline: "10 seconds" })).exitstatus).toBe("OK")
      }))

    it.effect("snapshots: create, list (without `current`), rollback, delete", () =>
      Effect.gen(function*() {
        const pve = yield* Pve
        const guest = stoppedVm
        const created = yield* upidOf(yield* pve.createSnapshot(guest, { name: "before", description: "safety" }))
        expect(created).toContain(":qmsnapshot:101:")
        yield* pve.waitTask(created, { deadline: "10 seconds" })
        const list = yield* pve.snapshots(guest)
        expect(list.map((s) => s.name)).toEqual(["before"])
        yield* pve.waitTask(yield* upidOf(yield* pve.rollbackSnapshot(guest, "before")), { deadline: "10 seconds" })
        yield* pve.waitTask(yield* upidOf(yield* pve.deleteSnapshot(guest, "before")), { deadline: "10 seconds" })
        expect(yield* pve.snapshots(guest)).toEqual([])
      }))

    it.effect("task status, log (with total) and list filtered by vmid, type, user and since", () =>
      Effect.gen(function*() {
        const pve = yield* Pve
        const sim = yield* Sim
        const since = Math.floor(Date.now() / 1000) - 1
        const upid = yield* upidOf(yield* pve.createSnapshot(ref(201, "lxc"), { name: "listed" }))
        const status = yield* pve.waitTask(upid, { deadline: "10 seconds" })
        expect(status).toMatchObject({
          upid,
          node: "pve1",
          type: "vzsnapshot",
          id: "201",
          status: "stopped",
          exitstatus: "OK"
        })
        const log = yield* pve.taskLog(upid)
        expect(log.total).toBeGreaterThan(0)
        expect(log.lines.at(-1)?.t).toBe("TASK OK")
        const listed = yield* pve.tasks("pve1", {
          source: "all",
          vmid: 201,
          typefilter: "vzsnapshot",
          userfilter: sim.tokenId,
          since
        })
        expect(listed.map((t) => t.upid)).toContain(upid)
        const other = yield* pve.tasks("pve1", { source: "all", vmid: 100, typefilter: "vzsnapshot" })
        expect(other.map((t) => t.upid)).not.toContain(upid)
      }))

    it.effect("effective permissions of the token", () =>
      Effect.gen(function*() {
        const pve = yield* Pve
        const perms = yield* pve.permissions("/vms/100")
        expect(perms["/vms/100"]?.["VM.PowerMgmt"]).toBeDefined()
      }))
  })
})
