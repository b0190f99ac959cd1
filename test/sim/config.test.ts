import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { startSimulator } from "../../src/sim/Simulator.js"
import { control, dataObject, dataRows, dataString, request, row, text, waitTask } from "./client.js"

const start = () =>
  startSimulator({
    https: false,
    authFailureDelay: 0,
    taskDuration: 5,
    guests: [
      {
        vmid: 100,
        type: "qemu",
        status: "running",
        config: { memory: 2048, cores: 1, name: "web", net0: "virtio=AA:bb:CC:00:11:22,bridge=vmbr0" }
      },
      { vmid: 101, type: "lxc", status: "running" },
      { vmid: 102, type: "qemu", status: "stopped" }
    ]
  })
const put = (s: Parameters<typeof request>[0], path: string, form: Record<string, string>) =>
  request(s, path, { method: "PUT", form })

// qemu-server `PVE::API2::Qemu` `vm_config`, `update_vm`, `update_vm_async`, `$update_vm_api`;
// pve-container `PVE::API2::LXC::Config`; digest from `PVE::QemuServer::parse_vm_config`.
describe("config, digest and pending", () => {
  it.scoped("qemu PUT → null; POST → qmconfig UPID; background_delay → null", () =>
    Effect.gen(function*() {
      const s = yield* start()
      expect((yield* put(s, "/nodes/pve1/qemu/102/config", { name: "a" })).body).toEqual({ data: null })
      const upid = dataString(yield* request(s, "/nodes/pve1/qemu/102/config", { method: "POST", form: { name: "b" } }))
      expect(upid).toContain(":qmconfig:102:")
      expect((yield* waitTask(s, upid)).exitstatus).toBe("OK")
      const bg = yield* request(s, "/nodes/pve1/qemu/102/config", {
        method: "POST",
        form: { name: "c", background_delay: "5" }
      })
      expect(bg.body).toEqual({ data: null })
      expect(s.cluster.mutations().map((m) => [m.kind, m.params["name"]])).toEqual([["config", "a"], ["config", "b"], [
        "config",
        "c"
      ]])
    }))

  it.scoped("digest is content-based; mismatch messages differ per type; lock refuses", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const d1 = dataObject(yield* request(s, "/nodes/pve1/qemu/102/config")).digest
      expect(d1).toMatch(/^[0-9a-f]{40}$/)
      yield* put(s, "/nodes/pve1/qemu/102/config", { name: "x" })
      const d2 = text(dataObject(yield* request(s, "/nodes/pve1/qemu/102/config")), "digest")
      yield* put(s, "/nodes/pve1/qemu/102/config", { name: "y" })
      yield* put(s, "/nodes/pve1/qemu/102/config", { name: "x" })
      expect(dataObject(yield* request(s, "/nodes/pve1/qemu/102/config")).digest).toBe(d2)
      expect(d2).not.toBe(d1)
      const edit = yield* control(s, "POST", "/guests/102/edit", { set: { name: "other" } })
      expect(edit.status).toBe(200)
      const q = yield* put(s, "/nodes/pve1/qemu/102/config", { name: "z", digest: d2 })
      expect([q.status, q.statusMessage]).toEqual([500, "checksum mismatch (file change by other user?)"])
      const ld = text(dataObject(yield* request(s, "/nodes/pve1/lxc/101/config")), "digest")
      yield* control(s, "POST", "/guests/101/edit", { set: { cores: 3 } })
      const l = yield* put(s, "/nodes/pve1/lxc/101/config", { cores: "2", digest: ld })
      expect(l.statusMessage).toBe("detected modified configuration - file changed by other user? Try again.")
      yield* control(s, "POST", "/guests/102/lock", { lock: "backup" })
      expect((yield* put(s, "/nodes/pve1/qemu/102/config", { name: "z" })).statusMessage).toBe("VM is locked (backup)")
      yield* control(s, "POST", "/guests/101/lock", { lock: "backup" })
      expect((yield* put(s, "/nodes/pve1/lxc/101/config", { cores: "2" })).statusMessage).toBe("CT is locked (backup)")
    }))

  it.scoped("running qemu: cores pending, name fast-plugged; GET merges; current=1; /pending; start applies", () =>
    Effect.gen(function*() {
      const s = yield* start()
      yield* put(s, "/nodes/pve1/qemu/100/config", { cores: "4", name: "renamed" })
      const merged = dataObject(yield* request(s, "/nodes/pve1/qemu/100/config"))
      expect([merged.cores, merged.name]).toEqual([4, "renamed"])
      const cur = dataObject(yield* request(s, "/nodes/pve1/qemu/100/config", { query: { current: "1" } }))
      expect([cur.cores, cur.name]).toEqual([1, "renamed"])
      const pend = dataRows(yield* request(s, "/nodes/pve1/qemu/100/pending"))
      expect(pend.find((r) => r.key === "cores")).toEqual({ key: "cores", value: 1, pending: 4 })
      expect(row(pend, -1).key).toBe("digest")
      // Setting the current value back clears the pending entry.
      yield* put(s, "/nodes/pve1/qemu/100/config", { cores: "1" })
      expect(dataRows(yield* request(s, "/nodes/pve1/qemu/100/pending")).find((r) => r.key === "cores")).toEqual({
        key: "cores",
        value: 1
      })
      yield* put(s, "/nodes/pve1/qemu/100/config", { cores: "2", delete: "memory" })
      const p2 = dataRows(yield* request(s, "/nodes/pve1/qemu/100/pending"))
      expect(p2.find((r) => r.key === "memory")).toEqual({ key: "memory", value: "2048", delete: 1 })
      const both = yield* request(s, "/nodes/pve1/qemu/100/config", { query: { current: "1", snapshot: "x" } })
      expect(both.status).toBe(400)
      yield* waitTask(s, dataString(yield* request(s, "/nodes/pve1/qemu/100/status/stop", { method: "POST" })))
      const before = dataObject(yield* request(s, "/nodes/pve1/qemu/100/config")).digest
      yield* waitTask(s, dataString(yield* request(s, "/nodes/pve1/qemu/100/status/start", { method: "POST" })))
      const after = dataObject(yield* request(s, "/nodes/pve1/qemu/100/config", { query: { current: "1" } }))
      expect([after.cores, after.memory]).toEqual([2, undefined])
      expect(after.digest).not.toBe(before)
      yield* put(s, "/nodes/pve1/qemu/100/config", { sockets: "2" })
      yield* put(s, "/nodes/pve1/qemu/100/config", { revert: "sockets" })
      expect(dataObject(yield* request(s, "/nodes/pve1/qemu/100/config")).sockets).toBeUndefined()
    }))

  it.scoped("lxc: required keys cannot be deleted, unprivileged is read-only; balloon ≤ memory", () =>
    Effect.gen(function*() {
      const s = yield* start()
      expect((yield* put(s, "/nodes/pve1/lxc/101/config", { delete: "rootfs" })).statusMessage).toBe(
        "unable to delete required option 'rootfs'"
      )
      expect((yield* put(s, "/nodes/pve1/lxc/101/config", { unprivileged: "0" })).statusMessage).toBe(
        "unable to modify read-only option: 'unprivileged'"
      )
      expect((yield* put(s, "/nodes/pve1/qemu/102/config", { balloon: "4096" })).statusMessage).toBe(
        "balloon value too large (must be smaller than assigned memory)"
      )
    }))
})
