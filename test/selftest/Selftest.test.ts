/**
 * The selftest against the simulator: passes on designated qemu and lxc guests, refuses what
 * it must, names missing privileges before touching anything, and leaves the guest exactly as
 * it found it when a step is made to fail.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { renderMarkdown } from "../../src/selftest/report.js"
import { Selftest } from "../../src/selftest/Selftest.js"
import { hasSelftestTag } from "../../src/selftest/tag.js"
import { Journal } from "../../src/state/Journal.js"
import { Sim } from "../support/sim.js"
import {
  GUESTS,
  LIMITED_TOKEN,
  LXC_VMID,
  QEMU_VMID,
  RUNNING_VMID,
  selftestStack,
  TEMPLATE_VMID,
  UNTAGGED_VMID,
  viewOf
} from "./support.js"

const UPID_RE = /^UPID:pve1:/

const run = (vmid: number, task: "permissions" | "snapshot" | "config" | "all" = "all", confirm = false) =>
  Effect.flatMap(Selftest, (s) => s.run({ vmid, task, confirm, waitDeadline: "20 seconds" }))

describe("Selftest", () => {
  for (const [type, vmid, prefix] of [["qemu", QEMU_VMID, "qm"], ["lxc", LXC_VMID, "vz"]] as const) {
    it.live(`passes on a tagged ${type} guest, every task step with its UPID and exit status, guest unchanged`, () =>
      Effect.gen(function*() {
        const before = yield* viewOf(vmid)
        const report = yield* run(vmid)
        expect(report.reason).toBeUndefined()
        expect(report.verdict).toBe("pass")
        expect(report.tasks.map((t) => [t.task, t.status])).toEqual([
          ["permissions", "passed"],
          ["snapshot", "passed"],
          ["config", "passed"]
        ])
        expect(report.guest).toMatchObject({ vmid, node: "pve1", type })
        expect(report.pveVersion).toBeDefined()
        const tasked = report.steps.filter((s) => s.upid !== undefined)
        expect(tasked.map((s) => s.upid?.split(":")[5])).toEqual([
          `${prefix}snapshot`,
          `${prefix}rollback`,
          `${prefix}delsnapshot`,
          // qemu config goes through the async POST (a qmconfig task); lxc has only the synchronous PUT.
          ...(type === "qemu" ? ["qmconfig", "qmconfig"] : [])
        ])
        for (const s of tasked) {
          expect(s.upid).toMatch(UPID_RE)
          expect(s.exitstatus).toBe("OK")
          expect(s.ok).toBe(true)
        }
        if (type === "lxc") {
          expect(report.steps.filter((s) => s.exitstatus === "sync").map((s) => s.step)).toEqual([
            "write marker",
            "delete description (was absent)"
          ])
        }
        expect(report.cleanup).toEqual([])
        const md = renderMarkdown(report)
        for (const s of tasked) expect(md).toContain(`\`${s.upid ?? ""}\` | OK |`)
        expect(md).toContain("# felhom-agent selftest: PASS")
        const after = yield* viewOf(vmid)
        expect(after.config).toEqual(before.config)
        expect(after.snapshots).toEqual({})
        // Every mutation was journaled and finished.
        const ops = yield* Effect.flatMap(Journal, (j) => j.list({ vmid }))
        expect(ops).toHaveLength(5)
        expect(ops.every((o) => o.phase === "done" && o.action.startsWith("selftest-") && o.origin === "planned")).toBe(
          true
        )
      }).pipe(Effect.provide(selftestStack())))
  }

  it.live("refuses a guest without the tag and without --confirm; touches nothing", () =>
    Effect.gen(function*() {
      const sim = yield* Sim
      const report = yield* run(UNTAGGED_VMID)
      expect(report.verdict).toBe("refused")
      expect(report.reason).toContain("not designated")
      expect(report.reason).toContain("felhom-selftest")
      expect(sim.cluster.mutations()).toEqual([])
      // The permissions task alone is read-only and needs no designation.
      expect((yield* run(UNTAGGED_VMID, "permissions")).verdict).toBe("pass")
      const confirmed = yield* run(UNTAGGED_VMID, "config", true)
      expect(confirmed.verdict).toBe("pass")
      expect((yield* viewOf(UNTAGGED_VMID)).config["description"]).toBeDefined()
    }).pipe(Effect.provide(selftestStack())))

  it.live("refuses templates and locked guests", () =>
    Effect.gen(function*() {
      const sim = yield* Sim
      const template = yield* run(TEMPLATE_VMID)
      expect([template.verdict, template.reason]).toEqual(["refused", `guest ${TEMPLATE_VMID} is a template`])
      sim.cluster.setLock(QEMU_VMID, "backup")
      const locked = yield* run(QEMU_VMID)
      expect([locked.verdict, locked.reason]).toEqual(["refused", `guest ${QEMU_VMID} is locked (backup)`])
      sim.cluster.clearLock(QEMU_VMID)
      expect(sim.cluster.mutations().filter((m) => m.user !== "root@pam")).toEqual([])
    }).pipe(Effect.provide(selftestStack())))

  it.live("--task all on a running guest: the rollback stops it, the selftest starts it again; it ends running, as found", () =>
    Effect.gen(function*() {
      const before = yield* viewOf(RUNNING_VMID)
      expect(before.status).toBe("running")
      const report = yield* run(RUNNING_VMID, "all")
      expect(report.reason).toBeUndefined()
      expect(report.verdict).toBe("pass")
      expect(report.tasks.map((t) => [t.task, t.status])).toEqual([["permissions", "passed"], ["snapshot", "passed"], [
        "config",
        "passed"
      ]])
      // PVE's rollback stops the running guest first (pve-guest-common
      // PVE::AbstractConfig::snapshot_rollback); the selftest's own start task brings it back.
      expect(report.steps.filter((s) => s.upid !== undefined).map((s) => s.upid?.split(":")[5])).toEqual([
        "qmsnapshot",
        "qmrollback",
        "qmstart",
        "qmdelsnapshot",
        "qmconfig",
        "qmconfig"
      ])
      const steps = report.steps.map((s) => s.step)
      expect(steps).toContain("start the guest again (the rollback stopped it)")
      expect(steps).toContain("running again")
      expect(steps).toContain("power state as found: running")
      const after = yield* viewOf(RUNNING_VMID)
      expect(after.status).toBe("running")
      expect(after.config).toEqual(before.config)
      expect(after.snapshots).toEqual({})
    }).pipe(Effect.provide(selftestStack())))

  it.live("a token without VM.Snapshot fails naming VM.Snapshot on /vms/N, and nothing is mutated", () =>
    Effect.gen(function*() {
      const sim = yield* Sim
      const report = yield* run(QEMU_VMID)
      expect(report.verdict).toBe("fail")
      expect(report.reason).toContain(`VM.Snapshot on /vms/${QEMU_VMID}`)
      expect(report.missingPrivileges).toEqual([
        expect.objectContaining({ task: "snapshot", path: `/vms/${QEMU_VMID}`, privilege: "VM.Snapshot" })
      ])
      expect(report.tasks).toEqual([
        { task: "permissions", status: "failed", reason: `missing VM.Snapshot on /vms/${QEMU_VMID}` },
        { task: "snapshot", status: "failed", reason: `missing VM.Snapshot on /vms/${QEMU_VMID}` },
        { task: "config", status: "skipped", reason: "preflight failed; nothing was run" }
      ])
      expect(renderMarkdown(report)).toContain(`VM.Snapshot on /vms/${QEMU_VMID}`)
      expect(sim.cluster.mutations()).toEqual([])
    }).pipe(Effect.provide(selftestStack({ tokens: [LIMITED_TOKEN] }))))

  for (const [type, vmid, rollback] of [["qemu", QEMU_VMID, "qmrollback"], ["lxc", LXC_VMID, "vzrollback"]] as const) {
    it.live(`${type}: a failing ${rollback} fails the selftest, cleanup deletes the snapshot, the guest is unchanged`, () =>
      Effect.gen(function*() {
        const sim = yield* Sim
        const before = yield* viewOf(vmid)
        sim.cluster.setFaults({ failTasks: [{ vmid, type: rollback, message: "simulated rollback failure" }] })
        const report = yield* run(vmid)
        expect(report.verdict).toBe("fail")
        expect(report.reason).toContain("rollback to felhom-selftest-")
        expect(report.tasks.map((t) => [t.task, t.status])).toEqual([
          ["permissions", "passed"],
          ["snapshot", "failed"],
          ["config", "skipped"]
        ])
        const failed = report.steps.filter((s) => !s.ok)
        expect(failed).toHaveLength(1)
        expect(failed[0]?.upid?.split(":")[5]).toBe(rollback)
        expect(failed[0]?.exitstatus).toBe("simulated rollback failure")
        expect(report.cleanup.map((s) => [s.step.replace(/felhom-selftest-[0-9-]+/, "S"), s.ok])).toEqual([
          ["cleanup: look for S", true],
          ["cleanup: delete leftover S", true],
          ["cleanup: S gone", true]
        ])
        const md = renderMarkdown(report)
        expect(md).toContain("**FAILED**")
        expect(md).toContain("cleanup: delete leftover felhom-selftest-")
        const after = yield* viewOf(vmid)
        expect(after.snapshots).toEqual({})
        expect(after.config).toEqual(before.config)
        const ops = yield* Effect.flatMap(Journal, (j) => j.list({ vmid }))
        expect(ops.map((o) => [o.action, o.phase]).reverse()).toEqual([
          ["selftest-snapshot-create", "done"],
          ["selftest-snapshot-rollback", "failed"],
          ["selftest-cleanup-snapshot-delete", "done"]
        ])
      }).pipe(Effect.provide(selftestStack())))
  }

  it.live("a failing config write leaves the description as found and cleanup says so", () =>
    Effect.gen(function*() {
      const sim = yield* Sim
      const before = yield* viewOf(QEMU_VMID)
      sim.cluster.setFaults({ failTasks: [{ vmid: QEMU_VMID, type: "qmconfig", message: "simulated config failure" }] })
      const report = yield* run(QEMU_VMID, "config")
      expect(report.verdict).toBe("fail")
      expect(report.cleanup.map((s) => s.detail)).toEqual(["as found; nothing to undo"])
      expect((yield* viewOf(QEMU_VMID)).config).toEqual(before.config)
    }).pipe(Effect.provide(selftestStack())))

  it.live("the restore failing after the marker was written: cleanup restores the original", () =>
    Effect.gen(function*() {
      const sim = yield* Sim
      const before = yield* viewOf(QEMU_VMID)
      // Arm the fault once the marker write has landed, so the restore task (not the write) fails.
      const arm = Effect.gen(function*() {
        while (
          !sim.cluster.mutations().some((m) =>
            m.kind === "config" && String(m.params["description"] ?? "").startsWith("felhom-selftest ")
          )
        ) {
          yield* Effect.sleep("1 millis")
        }
        sim.cluster.setFaults({
          failTasks: [{ vmid: QEMU_VMID, type: "qmconfig", message: "simulated restore failure", count: 1 }]
        })
      })
      const [report] = yield* Effect.all([run(QEMU_VMID, "config"), arm], { concurrency: 2 })
      expect(report.verdict).toBe("fail")
      expect(report.steps.filter((s) => !s.ok).map((s) => [s.step, s.exitstatus])).toEqual([[
        "restore description",
        "simulated restore failure"
      ]])
      expect(report.cleanup.map((s) => [s.step, s.ok, s.detail])).toEqual([
        ["cleanup: read description", true, "marker still present; restoring"],
        ["cleanup: restore description", true, "task OK"],
        ["cleanup: verify restore", true, expect.stringContaining("as found")]
      ])
      expect((yield* viewOf(QEMU_VMID)).config).toEqual(before.config)
    }).pipe(Effect.provide(selftestStack({ taskDuration: 40 }))))

  it.live("a task ending WARNINGS: N counts as success and is recorded as such", () =>
    Effect.gen(function*() {
      const sim = yield* Sim
      sim.cluster.setFaults({ warnTasks: [{ vmid: QEMU_VMID, type: "qmsnapshot", warnings: 2 }] })
      const report = yield* run(QEMU_VMID, "snapshot")
      expect(report.verdict).toBe("pass")
      expect(report.steps.find((s) => s.upid?.includes(":qmsnapshot:"))?.exitstatus).toBe("WARNINGS: 2")
    }).pipe(Effect.provide(selftestStack())))

  it("the designation tag is matched case-insensitively among ;-, ,- or space-separated tags", () => {
    expect(hasSelftestTag("lab;Felhom-Selftest")).toBe(true)
    expect(hasSelftestTag("a, felhom-selftest b")).toBe(true)
    expect(hasSelftestTag("felhom-selftester;lab")).toBe(false)
    expect(hasSelftestTag(undefined)).toBe(false)
  })
})

describe("Selftest on a cluster", () => {
  it.live("a designated guest on another node is refused before anything runs: its node's agent exercises it", () =>
    Effect.gen(function*() {
      const report = yield* run(QEMU_VMID)
      expect(report.verdict).toBe("refused")
      expect(report.reason).toBe(
        `guest ${QEMU_VMID} is on node pve2, and this agent manages node pve1 only: run the selftest with pve2's agent`
      )
      const sim = yield* Sim
      expect(sim.cluster.mutations()).toEqual([])
    }).pipe(Effect.provide(selftestStack({
      nodes: ["pve1", "pve2"],
      guests: GUESTS.map((g) => (g.vmid === QEMU_VMID ? { ...g, node: "pve2" } : g))
    }))))
})
