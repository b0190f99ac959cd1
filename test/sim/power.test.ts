import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { type SimOptions, startSimulator } from "../../src/sim/Simulator.js"
import { asObject, dataObject, dataRows, dataString, request, rowWhere, waitTask } from "./client.js"

const start = (options: SimOptions = {}) =>
  startSimulator({
    https: false,
    authFailureDelay: 0,
    taskDuration: 5,
    guests: [
      { vmid: 100, type: "qemu", status: "stopped" },
      { vmid: 101, type: "lxc", status: "running" },
      { vmid: 102, type: "qemu", status: "running" },
      { vmid: 103, type: "qemu", template: true },
      { vmid: 104, type: "lxc", status: "stopped" }
    ],
    ...options
  })
type Sim = Parameters<typeof request>[0]
const post = (s: Sim, path: string, form?: Record<string, string>) =>
  request(s, path, { method: "POST", ...(form ? { form } : {}) })
const current = (s: Sim, kind: string, vmid: number) =>
  Effect.map(request(s, `/nodes/pve1/${kind}/${vmid}/status/current`), dataObject)
const elapsedSince = (t0: number) => Date.now() - t0

// qemu-server `PVE::QemuServer::vm_start` / `_do_vm_stop`, pve-container `PVE::API2::LXC::Status`,
// pve-guest-common `PVE::AbstractConfig::lock_config`.
describe("power tasks: checks when the worker starts, the config flock", () => {
  // qemu-server PVE::API2::Qemu vm_start forks the worker at once; PVE::QemuServer::vm_start
  // checks template, then lock, then "already running" when the worker runs, under the flock.
  it.scoped("qemu start checks run when the task starts: a lock set later does not fail it; template is checked before the lock", () =>
    Effect.gen(function*() {
      const s = yield* start()
      s.cluster.setFaults({ stuckTasks: [{ type: "qmstart" }] })
      const upid = dataString(yield* post(s, "/nodes/pve1/qemu/100/status/start"))
      s.cluster.setLock(100, "backup")
      s.cluster.clearFaults()
      expect((yield* waitTask(s, upid)).exitstatus).toBe("OK")
      expect((yield* current(s, "qemu", 100)).status).toBe("running")
      s.cluster.setLock(103, "backup")
      const tpl = yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/103/status/start")))
      expect(tpl.exitstatus).toBe("you can't start a vm if it's a template")
    }))

  // pve-guest-common PVE::AbstractConfig::lock_config (10 s) through pve-common
  // PVE::Tools::lock_file_full: "can't lock file '<file>' - got timeout". The lock files are
  // qemu-server PVE::QemuConfig::config_file_lock and pve-container PVE::LXC::Config::config_file_lock.
  it.scoped("a config write while a start task holds the flock fails after the timeout: can't lock file … - got timeout", () =>
    Effect.gen(function*() {
      const s = yield* start({ flockTimeout: 150 })
      s.cluster.setFaults({ stuckTasks: [{ type: "qmstart" }, { type: "vzstart" }] })
      const q = dataString(yield* post(s, "/nodes/pve1/qemu/100/status/start"))
      const l = dataString(yield* post(s, "/nodes/pve1/lxc/104/status/start"))
      const t0 = Date.now()
      const qput = yield* request(s, "/nodes/pve1/qemu/100/config", { method: "PUT", form: { name: "x" } })
      expect(elapsedSince(t0)).toBeGreaterThanOrEqual(140)
      expect([qput.status, qput.statusMessage]).toEqual([
        500,
        "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"
      ])
      const lput = yield* request(s, "/nodes/pve1/lxc/104/config", { method: "PUT", form: { cores: "2" } })
      expect(lput.statusMessage).toBe("can't lock file '/run/lock/lxc/pve-config-104.lock' - got timeout")
      // A second worker on the same guest waits for the flock the same way.
      const stop = yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/100/status/stop")))
      expect(stop.exitstatus).toBe("can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout")
      s.cluster.clearFaults()
      expect((yield* waitTask(s, q)).exitstatus).toBe("OK")
      expect((yield* waitTask(s, l)).exitstatus).toBe("OK")
      expect(s.cluster.mutations().map((m) => [m.kind, m.vmid])).toEqual([["start", 100], ["start", 104]])
    }))

  it.scoped("a config write during a running start waits for it, then applies", () =>
    Effect.gen(function*() {
      const s = yield* start({ taskDuration: 150 })
      const upid = dataString(yield* post(s, "/nodes/pve1/qemu/100/status/start"))
      const put = yield* request(s, "/nodes/pve1/qemu/100/config", { method: "PUT", form: { name: "later" } })
      expect(put.status).toBe(200)
      const task = s.cluster.tasks.byUpid.get(upid)
      expect(task?.status).toBe("stopped")
      expect(s.cluster.mutations().map((m) => m.kind)).toEqual(["start", "config"])
    }))

  // pve-guest-common PVE::GuestHelpers::abort_guest_tasks, called by the stop workers of
  // qemu-server PVE::API2::Qemu vm_stop and pve-container PVE::API2::LXC::Status vm_stop.
  it.scoped("overrule-shutdown aborts the running shutdown task (received interrupt) and stops", () =>
    Effect.gen(function*() {
      const s = yield* start()
      s.cluster.setFaults({ stuckTasks: [{ type: "qmshutdown" }] })
      const shutdown = dataString(yield* post(s, "/nodes/pve1/qemu/102/status/shutdown"))
      const stop = dataString(yield* post(s, "/nodes/pve1/qemu/102/status/stop", { "overrule-shutdown": "1" }))
      expect((yield* waitTask(s, shutdown)).exitstatus).toBe("received interrupt")
      expect((yield* waitTask(s, stop)).exitstatus).toBe("OK")
      const log = dataRows(yield* request(s, `/nodes/pve1/tasks/${encodeURIComponent(stop)}/log`))
      expect(log[0]?.t).toBe(`overruled qmshutdown tasks: ${shutdown}`)
      expect((yield* current(s, "qemu", 102)).status).toBe("stopped")
      expect(s.cluster.mutations().map((m) => [m.kind, m.upid])).toEqual([["stop", stop]])
    }))

  // pve-container PVE::API2::LXC::Status: vm_stop/vm_shutdown/vm_reboot test
  // PVE::LXC::check_running first, which needs no config file.
  it.scoped("lxc stop/shutdown/reboot of an unknown CT: sync 500 not running, not a missing config", () =>
    Effect.gen(function*() {
      const s = yield* start()
      expect((yield* post(s, "/nodes/pve1/lxc/555/status/stop")).statusMessage).toBe("CT 555 not running")
      expect((yield* post(s, "/nodes/pve1/lxc/555/status/shutdown")).statusMessage).toBe("CT 555 not running")
      expect((yield* post(s, "/nodes/pve1/lxc/555/status/reboot")).statusMessage).toBe("VM 555 not running")
    }))

  // pve-container PVE::LXC::vm_reboot checks no lock itself; PVE::LXC::vm_start's pre-start
  // hook (lxc-pve-prestart-hook) refuses a locked CT, so the reboot leaves it stopped.
  it.scoped("lxc reboot of a locked CT stops it and fails to start it again", () =>
    Effect.gen(function*() {
      const s = yield* start()
      s.cluster.setLock(101, "backup")
      const reboot = yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/lxc/101/status/reboot")))
      expect(reboot.exitstatus).toBe("command 'systemctl start pve-container@101' failed: exit code 1")
      expect((yield* current(s, "lxc", 101)).status).toBe("stopped")
    }))
})

// qemu-server `PVE::API2::Qemu` `vm_status`, `vm_suspend`, `vm_resume`.
describe("paused and hibernated qemu guests", () => {
  // qemu-server PVE::API2::Qemu vm_suspend (qmpause) / vm_resume (qmresume),
  // PVE::QemuServer::RunState::vm_suspend / vm_resume; vm_shutdown and vm_reboot refuse a
  // VM for which PVE::QemuServer::vm_is_paused($vmid, 1) holds.
  it.scoped("suspend pauses the VM (qmpstatus paused, status running); shutdown and reboot refuse it; resume continues", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const pause = dataString(yield* post(s, "/nodes/pve1/qemu/102/status/suspend"))
      expect(pause).toContain(":qmpause:102:")
      expect((yield* waitTask(s, pause)).exitstatus).toBe("OK")
      const st = yield* current(s, "qemu", 102)
      expect([st.status, st.qmpstatus]).toEqual(["running", "paused"])
      const row = rowWhere(dataRows(yield* request(s, "/cluster/resources", { query: { type: "vm" } })), "vmid", 102)
      expect(row.status).toBe("paused")
      const full = rowWhere(dataRows(yield* request(s, "/nodes/pve1/qemu", { query: { full: "1" } })), "vmid", 102)
      expect([full.status, full.qmpstatus]).toEqual(["running", "paused"])
      const shut = yield* post(s, "/nodes/pve1/qemu/102/status/shutdown")
      expect([shut.status, shut.statusMessage]).toEqual([500, "VM is paused - cannot shutdown"])
      expect((yield* post(s, "/nodes/pve1/qemu/102/status/reboot")).statusMessage).toBe(
        "VM is paused - cannot shutdown"
      )
      const again = yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/102/status/start")))
      expect(again.exitstatus).toBe("VM 102 already running")
      const resume = dataString(yield* post(s, "/nodes/pve1/qemu/102/status/resume"))
      expect(resume).toContain(":qmresume:102:")
      expect((yield* waitTask(s, resume)).exitstatus).toBe("OK")
      expect((yield* current(s, "qemu", 102)).qmpstatus).toBe("running")
      expect((yield* post(s, "/nodes/pve1/qemu/100/status/suspend")).statusMessage).toBe("VM 100 not running")
    }))

  it.scoped("a paused VM shuts down with forceStop=1 (a stop instead); a guest-suspended VM counts as paused", () =>
    Effect.gen(function*() {
      const s = yield* startSimulator({
        https: false,
        authFailureDelay: 0,
        taskDuration: 5,
        guests: [{ vmid: 100, type: "qemu", status: "paused" }, { vmid: 101, type: "qemu", status: "suspended" }]
      })
      const st = yield* current(s, "qemu", 101)
      expect([st.status, st.qmpstatus]).toEqual(["running", "suspended"])
      expect((yield* post(s, "/nodes/pve1/qemu/101/status/shutdown")).statusMessage).toBe(
        "VM is paused - cannot shutdown"
      )
      const forced = yield* waitTask(
        s,
        dataString(yield* post(s, "/nodes/pve1/qemu/100/status/shutdown", { forceStop: "1" }))
      )
      expect(forced.exitstatus).toBe("OK")
      expect((yield* current(s, "qemu", 100)).status).toBe("stopped")
    }))

  // PVE::QemuServer::RunState::vm_suspend with $includestate: lock `suspending` and the vmstate
  // keys while saving, then quit and lock `suspended`; PVE::QemuServer::vm_start lets a
  // `suspended` lock through and vm_start_nolock resumes without applying pending changes.
  it.scoped("suspend todisk=1 hibernates: lock suspending, then stopped with lock suspended; start resumes it", () =>
    Effect.gen(function*() {
      const s = yield* start()
      yield* request(s, "/nodes/pve1/qemu/102/config", { method: "PUT", form: { cores: "4" } })
      s.cluster.setFaults({ stuckTasks: [{ type: "qmsuspend" }] })
      const hib = dataString(yield* post(s, "/nodes/pve1/qemu/102/status/suspend", { todisk: "1" }))
      expect(hib).toContain(":qmsuspend:102:")
      expect(dataObject(yield* request(s, "/nodes/pve1/qemu/102/config")).lock).toBe("suspending")
      s.cluster.clearFaults()
      expect((yield* waitTask(s, hib)).exitstatus).toBe("OK")
      const st = yield* current(s, "qemu", 102)
      expect([st.status, st.lock]).toEqual(["stopped", "suspended"])
      const cfg = dataObject(yield* request(s, "/nodes/pve1/qemu/102/config", { query: { current: "1" } }))
      expect(cfg.vmstate).toMatch(/^local-lvm:vm-102-state-suspend-\d{4}-\d{2}-\d{2}$/)
      expect((yield* request(s, "/nodes/pve1/qemu/102/config", { method: "PUT", form: { name: "x" } })).statusMessage)
        .toBe(
          "VM is locked (suspended)"
        )
      const resumed = yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/102/status/start")))
      expect(resumed.exitstatus).toBe("OK")
      const after = dataObject(yield* request(s, "/nodes/pve1/qemu/102/config", { query: { current: "1" } }))
      expect([after.lock, after.vmstate, after.runningmachine, after.cores]).toEqual([
        undefined,
        undefined,
        undefined,
        1
      ])
      expect((yield* current(s, "qemu", 102)).status).toBe("running")
    }))

  // qemu-server PVE::API2::Qemu $update_vm_api: deleting vmstate drops the `suspended` lock.
  it.scoped("delete=vmstate discards a hibernation and its suspended lock", () =>
    Effect.gen(function*() {
      const s = yield* start()
      yield* waitTask(s, dataString(yield* post(s, "/nodes/pve1/qemu/102/status/suspend", { todisk: "1" })))
      const del = yield* request(s, "/nodes/pve1/qemu/102/config", { method: "PUT", form: { delete: "vmstate" } })
      expect(del.status).toBe(200)
      const cfg = dataObject(yield* request(s, "/nodes/pve1/qemu/102/config"))
      expect([cfg.lock, cfg.vmstate, cfg.runningcpu]).toEqual([undefined, undefined, undefined])
    }))
})

// The `hastart`/`hastop` branch of qemu-server `PVE::API2::Qemu::vm_start` and friends.
describe("HA-managed guests", () => {
  const haStart = () =>
    startSimulator({
      https: false,
      authFailureDelay: 0,
      taskDuration: 5,
      haRound: 150,
      guests: [
        { vmid: 100, type: "qemu", status: "running", ha: "started" },
        { vmid: 101, type: "lxc", status: "stopped", ha: "stopped", snapshots: [{ name: "base" }] },
        { vmid: 102, type: "qemu", status: "running", ha: "ignored" }
      ]
    })
  const rows = (s: Sim, vmid: number) =>
    Effect.map(request(s, "/nodes/pve1/tasks", { query: { vmid: String(vmid) } }), dataRows)
  /** Polls until a task of `type` for `vmid` has finished (the HA manager's own task). */
  const finished = (s: Sim, vmid: number, type: string) =>
    Effect.gen(function*() {
      for (;;) {
        const found = (yield* rows(s, vmid)).find((t) => t.type === type)
        if (found !== undefined) return found
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
      }
    })

  // qemu-server PVE::API2::Qemu vm_stop: for an HA resource the worker only runs
  // `ha-manager crm-command stop vm:ID 0`; pve-ha-manager PVE::HA::Manager next_state_started
  // moves the service to request_stop and PVE::HA::Resources::PVEVM shutdown stops it as root@pam.
  it.scoped("qemu stop becomes an hastop request; the HA manager stops the VM later in its own qmstop task as root@pam", () =>
    Effect.gen(function*() {
      const s = yield* haStart()
      const st = yield* current(s, "qemu", 100)
      expect(st.ha).toEqual({ managed: 1, state: "started" })
      expect(
        rowWhere(dataRows(yield* request(s, "/cluster/resources", { query: { type: "vm" } })), "vmid", 100).hastate
      ).toBe("started")
      const req = dataString(yield* post(s, "/nodes/pve1/qemu/100/status/stop"))
      expect(req).toContain(":hastop:100:")
      expect((yield* waitTask(s, req)).exitstatus).toBe("OK")
      const log = dataRows(yield* request(s, `/nodes/pve1/tasks/${encodeURIComponent(req)}/log`))
      expect(log.map((l) => l.t)).toEqual(["Requesting HA stop for VM 100", "TASK OK"])
      expect((yield* current(s, "qemu", 100)).status).toBe("running")
      const stop = yield* finished(s, 100, "qmstop")
      expect([stop.user, stop.status]).toEqual(["root@pam", "OK"])
      const after = yield* current(s, "qemu", 100)
      expect([after.status, after.ha]).toEqual(["stopped", { managed: 1, state: "stopped" }])
      expect(s.cluster.mutations().map((m) => [m.kind, m.user])).toEqual([["stop", "root@pam"]])
      // A reboot has no HA branch (qemu-server PVE::API2::Qemu vm_reboot).
      expect((yield* post(s, "/nodes/pve1/qemu/100/status/reboot")).statusMessage).toBe("VM 100 not running")
    }))

  // pve-container PVE::API2::LXC::Status vm_start (HA: `ha-manager set ct:ID --state
  // started`), pve-ha-manager PVE::HA::Manager next_state_stopped → request_start → started,
  // and PVE::RESTEnvironment::fork_worker's "task started by HA resource agent".
  it.scoped("lxc start becomes an hastart request; the HA manager starts the CT in a vzstart task as root@pam", () =>
    Effect.gen(function*() {
      const s = yield* haStart()
      const req = dataString(yield* post(s, "/nodes/pve1/lxc/101/status/start"))
      expect(req).toContain(":hastart:101:")
      expect((yield* waitTask(s, req)).exitstatus).toBe("OK")
      const started = yield* finished(s, 101, "vzstart")
      expect([started.user, started.status]).toEqual(["root@pam", "OK"])
      const log = dataRows(yield* request(s, `/nodes/pve1/tasks/${encodeURIComponent(String(started.upid))}/log`))
      expect(log[0]?.t).toBe("task started by HA resource agent")
      expect(yield* current(s, "lxc", 101)).toMatchObject({ status: "running", ha: { managed: 1, state: "started" } })
      const overrule = yield* post(s, "/nodes/pve1/lxc/101/status/stop", { "overrule-shutdown": "1" })
      expect(asObject(overrule.body).errors).toEqual({ "overrule-shutdown": "Not applicable for HA resources." })
    }))

  // The rollback worker's start=1 goes through the start API, so an HA resource gets hastart.
  it.scoped("rollback start=1 of an HA-managed CT asks the HA manager (hastart)", () =>
    Effect.gen(function*() {
      const s = yield* haStart()
      const rb = dataString(yield* post(s, "/nodes/pve1/lxc/101/snapshot/base/rollback", { start: "1" }))
      expect((yield* waitTask(s, rb)).exitstatus).toBe("OK")
      const req = yield* finished(s, 101, "hastart")
      expect(req.user).toBe(s.tokenId)
      yield* finished(s, 101, "vzstart")
      expect((yield* current(s, "lxc", 101)).status).toBe("running")
    }))

  // pve-ha-manager PVE::HA::Config::get_service_status / vm_is_ha_managed: `ignored` = unmanaged.
  it.scoped("an ignored HA resource is not managed: plain qmshutdown task, ha.managed 0", () =>
    Effect.gen(function*() {
      const s = yield* haStart()
      expect((yield* current(s, "qemu", 102)).ha).toEqual({ managed: 0 })
      const down = dataString(yield* post(s, "/nodes/pve1/qemu/102/status/shutdown"))
      expect(down).toContain(":qmshutdown:102:")
      expect((yield* waitTask(s, down)).exitstatus).toBe("OK")
    }))
})
