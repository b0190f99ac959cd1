/**
 * Migration driven from the control API, in PVE's order (pve-guest-common
 * `PVE::AbstractMigrate::migrate`, qemu-server `PVE::QemuMigrate`, pve-container
 * `PVE::LXC::Migrate`): begin = config flock held + `lock: migrate`; finish = config moved to
 * the target node, lock cleared, flock released.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type RunningSim, type SimOptions, startSimulator } from "../../src/sim/Simulator.js"
import { asObject, control, dataObject, dataRows, dataString, request, rowWhere, waitTask } from "./client.js"

const start = (options: SimOptions = {}) =>
  startSimulator({
    https: false,
    authFailureDelay: 0,
    taskDuration: 5,
    flockTimeout: 150,
    nodes: ["pve1", "pve2"],
    guests: [
      { vmid: 100, type: "qemu", status: "running", config: { name: "web", memory: 1024 } },
      { vmid: 101, type: "lxc", status: "running" },
      { vmid: 102, type: "qemu", status: "stopped" }
    ],
    ...options
  })

const on = (s: RunningSim, node: string): RunningSim => ({ ...s, url: s.nodeUrls[node] ?? "" })
const put = (s: RunningSim, path: string, form: Record<string, string>) => request(s, path, { method: "PUT", form })
const post = (s: RunningSim, path: string) => request(s, path, { method: "POST" })
const resource = (s: RunningSim, vmid: number) =>
  Effect.map(request(s, "/cluster/resources", { query: { type: "vm" } }), (r) => rowWhere(dataRows(r), "vmid", vmid))
const migrationsOf = (s: RunningSim, vmid: number) =>
  s.cluster.mutations().filter((m) => m.vmid === vmid && m.kind.startsWith("migrate")).map((
    m
  ) => [m.kind, m.node, m.params])
const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

describe("guest migration (control API)", () => {
  it.scoped("begin: lock migrate in config, status and /cluster/resources; a qmigrate task runs on the source", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const begun = yield* control(s, "POST", "/guests/100/migrate/begin", { target: "pve2" })
      expect(begun.status).toBe(200)
      const m = asObject(begun.body)
      expect(m).toMatchObject({ vmid: 100, type: "qemu", from: "pve1", to: "pve2", restart: false })
      expect(m.upid).toMatch(/^UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:qmigrate:100:root@pam:$/)
      expect(dataObject(yield* request(s, "/nodes/pve1/qemu/100/config")).lock).toBe("migrate")
      expect(dataObject(yield* request(s, "/nodes/pve1/qemu/100/status/current"))).toMatchObject({
        lock: "migrate",
        status: "running"
      })
      expect(yield* resource(s, 100)).toMatchObject({ node: "pve1", lock: "migrate", status: "running" })
      const task = dataObject(yield* request(s, `/nodes/pve1/tasks/${encodeURIComponent(String(m.upid))}/status`))
      expect(task).toMatchObject({ status: "running", type: "qmigrate", id: "100" })
      expect((yield* control(s, "GET", "/migrations")).body).toEqual([m])
    }))

  // qemu-server PVE::API2::Qemu update_vm checks the lock before taking the flock; the start
  // worker (PVE::QemuServer::vm_start) and every lxc config write wait for the flock the
  // migration worker holds (lock_vm = lock_config) and time out.
  it.scoped("during the migration a qemu config write answers the lock error; a start and an lxc write wait for the flock", () =>
    Effect.gen(function*() {
      const s = yield* start()
      yield* control(s, "POST", "/guests/100/migrate/begin", { target: "pve2" })
      const write = yield* put(s, "/nodes/pve1/qemu/100/config", { name: "other" })
      expect([write.status, write.statusMessage]).toEqual([500, "VM is locked (migrate)"])
      const startTask = yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/100/status/start")))
      expect(startTask.exitstatus).toBe("can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout")
      yield* control(s, "POST", "/guests/102/migrate/begin", { target: "pve2" })
      const offline = yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/102/status/start")))
      expect(offline.exitstatus).toBe("can't lock file '/var/lock/qemu-server/lock-102.conf' - got timeout")
      yield* control(s, "POST", "/guests/101/migrate/begin", { target: "pve2" })
      const lxc = yield* put(s, "/nodes/pve1/lxc/101/config", { cores: "2" })
      expect([lxc.status, lxc.statusMessage]).toEqual([
        500,
        "can't lock file '/run/lock/lxc/pve-config-101.lock' - got timeout"
      ])
      expect(s.cluster.mutations().filter((x) => x.kind === "config" || x.kind === "start")).toEqual([])
    }))

  it.scoped("finish: the config lives on the target, the source answers 'does not exist', the VM keeps running", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const m = asObject((yield* control(s, "POST", "/guests/100/migrate/begin", { target: "pve2" })).body)
      const done = yield* control(s, "POST", "/guests/100/migrate/finish")
      expect([done.status, done.body]).toEqual([200, m])
      for (const listener of ["pve1", "pve2"]) {
        const gone = yield* request(on(s, listener), "/nodes/pve1/qemu/100/config")
        expect([gone.status, gone.body]).toEqual([
          500,
          { data: null, message: "Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist\n" }
        ])
        const here = dataObject(yield* request(on(s, listener), "/nodes/pve2/qemu/100/status/current"))
        expect(here).toMatchObject({ status: "running", name: "web" })
        expect(here.lock).toBeUndefined()
      }
      const row = yield* resource(s, 100)
      expect(row).toMatchObject({ node: "pve2", status: "running" })
      expect(row.lock).toBeUndefined()
      expect(dataRows(yield* request(s, "/nodes/pve1/qemu")).map((r) => r.vmid)).toEqual([102])
      expect(dataRows(yield* request(s, "/nodes/pve2/qemu")).map((r) => r.vmid)).toEqual([100])
      expect(yield* waitTask(s, String(m.upid))).toMatchObject({ exitstatus: "OK" })
      // The flock is free again: writes on the target go through.
      expect((yield* put(s, "/nodes/pve2/qemu/100/config", { name: "moved" })).status).toBe(200)
      expect((yield* control(s, "GET", "/migrations")).body).toEqual([])
    }))

  it.scoped("the mutation log shows migrate-begin on the source and migrate-finish on the target, with the task's UPID", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const m = asObject((yield* control(s, "POST", "/guests/100/migrate/begin", { target: "pve2" })).body)
      yield* control(s, "POST", "/guests/100/migrate/finish")
      expect(migrationsOf(s, 100)).toEqual([
        ["migrate-begin", "pve1", { target: "pve2" }],
        ["migrate-finish", "pve2", { from: "pve1", to: "pve2" }]
      ])
      expect(s.cluster.mutations().filter((x) => x.vmid === 100).map((x) => [x.upid, x.user])).toEqual([
        [m.upid, "root@pam"],
        [m.upid, "root@pam"]
      ])
    }))

  it.scoped("a migrate lock left on the target (failed unlock) refuses a config write and a start with PVE's lock error", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const m = asObject((yield* control(s, "POST", "/guests/102/migrate/begin", { target: "pve2" })).body)
      yield* control(s, "POST", "/guests/102/migrate/finish", { keepLock: true })
      expect((yield* waitTask(s, String(m.upid))).exitstatus).toBe("migration problems")
      const write = yield* put(s, "/nodes/pve2/qemu/102/config", { name: "x" })
      expect([write.status, write.statusMessage]).toEqual([500, "VM is locked (migrate)"])
      const started = yield* waitTask(s, dataString(yield* post(s, "/nodes/pve2/qemu/102/status/start")), "pve2")
      expect(started.exitstatus).toBe("VM is locked (migrate)")
      expect(migrationsOf(s, 102).at(-1)).toEqual(["migrate-finish", "pve2", { from: "pve1", to: "pve2", keepLock: 1 }])
      // `qm unlock` (the control API's DELETE /guests/N/lock) clears it.
      yield* control(s, "DELETE", "/guests/102/lock")
      expect((yield* put(s, "/nodes/pve2/qemu/102/config", { name: "x" })).status).toBe(200)
    }))

  // pve-container PVE::LXC::Migrate: a running CT migrates only in restart mode (shut down in
  // prepare, started on the target in final_cleanup).
  it.scoped("a running container is shut down for the migration and started again on the target", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const m = asObject((yield* control(s, "POST", "/guests/101/migrate/begin", { target: "pve2" })).body)
      expect(m).toMatchObject({ type: "lxc", restart: true })
      expect(m.upid).toMatch(/:vzmigrate:101:root@pam:$/)
      expect(dataObject(yield* request(s, "/nodes/pve1/lxc/101/status/current"))).toMatchObject({
        status: "stopped",
        lock: "migrate"
      })
      yield* control(s, "POST", "/guests/101/migrate/finish")
      expect(dataObject(yield* request(s, "/nodes/pve2/lxc/101/status/current")).status).toBe("running")
      expect(migrationsOf(s, 101)).toEqual([
        ["migrate-begin", "pve1", { target: "pve2", restart: 1 }],
        ["migrate-finish", "pve2", { from: "pve1", to: "pve2", restart: 1 }]
      ])
    }))

  it.scoped("one-shot: finished at once, or after afterMs with the lock visible meanwhile", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const now = yield* control(s, "POST", "/guests/102/migrate", { target: "pve2" })
      expect([now.status, asObject(now.body).to]).toEqual([200, "pve2"])
      expect(dataObject(yield* request(s, "/nodes/pve2/qemu/102/config")).lock).toBeUndefined()
      const later = yield* control(s, "POST", "/guests/102/migrate", { target: "pve1", afterMs: 80 })
      expect(later.status).toBe(200)
      expect(dataObject(yield* request(s, "/nodes/pve2/qemu/102/config")).lock).toBe("migrate")
      for (let i = 0; i < 200 && (yield* resource(s, 102)).node !== "pve1"; i++) yield* sleep(5)
      expect(yield* resource(s, 102)).toMatchObject({ node: "pve1" })
      expect(migrationsOf(s, 102).map(([kind, node]) => [kind, node])).toEqual([
        ["migrate-begin", "pve1"],
        ["migrate-finish", "pve2"],
        ["migrate-begin", "pve2"],
        ["migrate-finish", "pve1"]
      ])
    }))

  it.scoped("refusals: unknown guest or node, the guest's own node, a locked guest, a held flock, nothing to finish", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const refusal = (path: string, body?: unknown) =>
        Effect.map(control(s, "POST", path, body), (r) => [r.status, asObject(r.body).error])
      expect(yield* refusal("/guests/999/migrate/begin", { target: "pve2" })).toEqual([404, "no guest 999"])
      expect(yield* refusal("/guests/100/migrate/begin", { target: "pve9" })).toEqual([
        404,
        "no such cluster node 'pve9'"
      ])
      expect(yield* refusal("/guests/100/migrate/begin", { target: "pve1" })).toEqual([
        404,
        "guest 100 is already on node 'pve1' (PVE: \"target is local node.\")"
      ])
      expect(yield* refusal("/guests/100/migrate/finish")).toEqual([404, "no migration of guest 100 in progress"])
      expect((yield* refusal("/guests/100/migrate/begin", {}))[0]).toBe(400)
      s.cluster.setLock(102, "backup")
      expect(yield* refusal("/guests/102/migrate", { target: "pve2" })).toEqual([
        404,
        "guest 102: VM is locked (backup)"
      ])
      yield* control(s, "POST", "/guests/100/migrate/begin", { target: "pve2" })
      expect(yield* refusal("/guests/100/migrate/begin", { target: "pve2" })).toEqual([
        404,
        "guest 100: VM is locked (migrate)"
      ])
      // A worker holding the config flock (a stuck start) keeps the migration from beginning.
      s.cluster.setFaults({ stuckTasks: [{ type: "vzstop" }] })
      yield* post(s, "/nodes/pve1/lxc/101/status/stop")
      expect(yield* refusal("/guests/101/migrate/begin", { target: "pve2" })).toEqual([
        404,
        "guest 101: can't lock file '/run/lock/lxc/pve-config-101.lock' - got timeout (a running task holds the config flock)"
      ])
      // The same refusals through the SimCluster methods, as SimControlError.
      const direct = s.cluster.beginMigration(100, "pve2")
      expect(direct._tag === "Left" && direct.left._tag === "SimControlError" ? direct.left.message : "").toBe(
        "guest 100: VM is locked (migrate)"
      )
    }))

  it.scoped("reset forgets a migration in progress", () =>
    Effect.gen(function*() {
      const s = yield* start()
      yield* control(s, "POST", "/guests/100/migrate/begin", { target: "pve2" })
      yield* control(s, "POST", "/reset")
      expect((yield* control(s, "GET", "/migrations")).body).toEqual([])
      expect(dataObject(yield* request(s, "/nodes/pve1/qemu/100/config")).lock).toBeUndefined()
      expect((yield* put(s, "/nodes/pve1/qemu/100/config", { name: "after-reset" })).status).toBe(200)
    }))
})
