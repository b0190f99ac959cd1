import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import type { Action } from "../../src/domain/Action.js"
import type { ClusterGuest, GuestStatus } from "../../src/domain/Cluster.js"
import { validateConfig } from "../../src/domain/configSchema.js"
import type { DesiredGuest, DesiredState } from "../../src/domain/DesiredState.js"
import type { GuestType } from "../../src/domain/Guest.js"
import type { ConfigValue, PendingEntry } from "../../src/domain/GuestConfig.js"
import { makeVmid } from "../../src/domain/Vmid.js"
import { isEqual } from "../../src/reconcile/normalize.js"
import { type ObservedGuest, type Plan, plan } from "../../src/reconcile/plan.js"

const DIGEST = "0123456789abcdef0123456789abcdef01234567"

interface GuestSpec {
  readonly vmid: number
  readonly node?: string
  readonly type?: GuestType
  readonly status?: GuestStatus["status"]
  readonly qmpstatus?: string
  readonly values?: Record<string, ConfigValue>
  readonly pending?: ReadonlyArray<PendingEntry>
  readonly clusterLock?: string
  readonly statusLock?: string
  readonly template?: number
}

const observedGuest = (s: GuestSpec): ObservedGuest => {
  const type = s.type ?? "qemu"
  const guest: ClusterGuest = {
    id: `${type}/${s.vmid}`,
    vmid: makeVmid(s.vmid),
    node: s.node ?? "pve1",
    type,
    status: s.status ?? "running",
    ...(s.clusterLock === undefined ? {} : { lock: s.clusterLock }),
    ...(s.template === undefined ? {} : { template: s.template })
  }
  const status: GuestStatus = {
    status: s.status ?? "running",
    ...(s.qmpstatus === undefined ? {} : { qmpstatus: s.qmpstatus }),
    ...(s.statusLock === undefined ? {} : { lock: s.statusLock })
  }
  return { guest, status, config: { digest: DIGEST, values: s.values ?? {} }, pending: s.pending ?? [] }
}

const desiredOf = (guests: Record<number, DesiredGuest>, revision?: string): DesiredState => ({
  ...(revision === undefined ? {} : { revision }),
  guests: Object.fromEntries(Object.entries(guests))
})

const setConfigs = (actions: ReadonlyArray<Action>) => actions.filter((a) => a._tag === "SetConfig")

describe("plan: examples", () => {
  it("SetConfig carries only the differing keys plus the digest", () => {
    const o = observedGuest({ vmid: 100, values: { cores: 2, memory: "2048", onboot: 1, tags: "a;b", name: "web" } })
    const p = plan(desiredOf({ 100: { config: { cores: "4", memory: 2048, onboot: 1, tags: "B,a", name: "web" } } }), [
      o
    ])
    expect(p.actions).toHaveLength(1)
    const [a] = p.actions
    expect(a?._tag).toBe("SetConfig")
    if (a?._tag !== "SetConfig") return
    expect(a.set).toEqual({ cores: "4" })
    expect(a.delete).toEqual([])
    expect(a.digest).toBe(DIGEST)
    expect(a.guest.vmid).toBe(100)
    expect(a.guest.node).toBe("pve1")
  })
  it("null deletes a present key; deleting an absent key is no action", () => {
    const o = observedGuest({ vmid: 100, values: { tags: "x" } })
    const p = plan(desiredOf({ 100: { config: { tags: null, description: null } } }), [o])
    expect(p.actions).toEqual([expect.objectContaining({ _tag: "SetConfig", set: {}, delete: ["tags"] })])
    const again = plan(desiredOf({ 100: { config: { description: null } } }), [o])
    expect(again.actions).toEqual([])
  })
  it("power: Start a stopped guest, Stop a running one with the shutdown timeout; SetConfig first", () => {
    const p = plan(
      desiredOf({ 100: { power: "running", config: { cores: 2 } }, 101: { power: "stopped", config: { onboot: 1 } } }),
      [observedGuest({ vmid: 101, status: "running" }), observedGuest({ vmid: 100, status: "stopped" })],
      { shutdownTimeout: 90 }
    )
    expect(p.actions.map((a) => `${a._tag}:${a.guest.vmid}`)).toEqual([
      "SetConfig:100",
      "Start:100",
      "SetConfig:101",
      "Stop:101"
    ])
    const stop = p.actions[3]
    expect(stop?._tag === "Stop" && stop.shutdownTimeout).toBe(90)
  })
  it("power already as desired: no action", () => {
    const p = plan(desiredOf({ 100: { power: "running" }, 101: { power: "stopped" } }), [
      observedGuest({ vmid: 100, status: "running", qmpstatus: "running" }),
      observedGuest({ vmid: 101, status: "stopped" })
    ])
    expect(p.actions).toEqual([])
  })
  it("a paused qemu guest is neither started nor stopped, and is reported", () => {
    const p = plan(desiredOf({ 100: { power: "running" }, 101: { power: "stopped" } }), [
      observedGuest({ vmid: 100, status: "running", qmpstatus: "paused" }),
      observedGuest({ vmid: 101, status: "running", qmpstatus: "suspended" })
    ])
    expect(p.actions).toEqual([])
    expect(p.skipped.map((s) => s.vmid)).toEqual([100, 101])
    expect(p.skipped[0]?.reason).toContain("paused")
  })
  it("locked guests are skipped with the lock named (status, config or cluster row)", () => {
    const desired = desiredOf({
      100: { power: "stopped", config: { cores: 8 } },
      101: { config: { cores: 8 } },
      102: { config: { cores: 8 } }
    })
    const p = plan(desired, [
      observedGuest({ vmid: 100, statusLock: "backup" }),
      observedGuest({ vmid: 101, values: { lock: "snapshot" } }),
      observedGuest({ vmid: 102, clusterLock: "migrate" })
    ])
    expect(p.actions).toEqual([])
    expect(p.skipped).toEqual([
      { vmid: 100, reason: expect.stringContaining("locked (backup)") },
      { vmid: 101, reason: expect.stringContaining("locked (snapshot)") },
      { vmid: 102, reason: expect.stringContaining("locked (migrate)") }
    ])
  })
  it("templates are skipped", () => {
    const p = plan(desiredOf({ 100: { power: "running" }, 101: { config: { cores: 3 } } }), [
      observedGuest({ vmid: 100, status: "stopped", template: 1 }),
      observedGuest({ vmid: 101, values: { template: 1 } })
    ])
    expect(p.actions).toEqual([])
    expect(p.skipped.map((s) => s.vmid)).toEqual([100, 101])
    expect(p.skipped[0]?.reason).toContain("template")
  })
  it("restart required comes from /pending and never triggers a restart", () => {
    const pending: ReadonlyArray<PendingEntry> = [
      { key: "digest", value: DIGEST },
      { key: "cores", value: 2, pending: 4 },
      { key: "name", value: "web" },
      { key: "numa", value: 1, delete: 1 }
    ]
    const p = plan(desiredOf({ 100: { power: "running", config: { cores: 4 } } }), [
      observedGuest({ vmid: 100, status: "running", values: { cores: 4 }, pending })
    ])
    expect(p.actions).toEqual([])
    expect(p.restartRequired).toEqual([{ vmid: 100, keys: ["cores", "numa"] }])
  })
  it("missing and unmanaged guests are reported, never touched", () => {
    const p = plan(desiredOf({ 300: { power: "running" }, 100: {} }, "r1"), [
      observedGuest({ vmid: 200, status: "stopped" }),
      observedGuest({ vmid: 100 }),
      observedGuest({ vmid: 150 })
    ])
    expect(p.actions).toEqual([])
    expect(p.missing).toEqual([300])
    expect(p.unmanaged).toEqual([150, 200])
    expect(p.revision).toBe("r1")
  })
  it("a NIC rewritten for another bridge keeps its MAC", () => {
    const o = observedGuest({ vmid: 100, values: { net0: "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0" } })
    const p = plan(desiredOf({ 100: { config: { net0: "virtio,bridge=vmbr1" } } }), [o])
    expect(setConfigs(p.actions)[0]?.set).toEqual({ net0: "virtio=BC:24:11:AA:BB:CC,bridge=vmbr1" })
  })
})

// ---- properties ----------------------------------------------------------------------------

const KEYS = [
  "cores",
  "memory",
  "onboot",
  "tags",
  "description",
  "net0",
  "agent",
  "ostype",
  "cpulimit",
  "protection"
] as const
const valueFor = (key: (typeof KEYS)[number]): fc.Arbitrary<ConfigValue> => {
  switch (key) {
    case "cores":
      return fc.oneof(fc.integer({ min: 1, max: 4 }), fc.constantFrom("1", "2", "4"))
    case "memory":
      return fc.constantFrom(512, 2048, "2048", "current=2048", "current=4096")
    case "onboot":
    case "protection":
      return fc.constantFrom(0, 1, "0", "1")
    case "tags":
      return fc.constantFrom("a;b", "B,a", "b a", "c", "a")
    case "description":
      return fc.constantFrom("x", "x\n", "x\r\n\r\n", "y\n\nz", "y\n\nz\n")
    case "net0":
      return fc.constantFrom(
        "virtio,bridge=vmbr0",
        "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0",
        "virtio=bc:24:11:aa:bb:cc,bridge=vmbr0,firewall=0",
        "e1000,bridge=vmbr1,firewall=1"
      )
    case "agent":
      return fc.constantFrom(0, 1, "1", "enabled=1", "enabled=1,fstrim_cloned_disks=1")
    case "ostype":
      return fc.constantFrom("l26", "win11")
    case "cpulimit":
      return fc.constantFrom(0, "0", 1.5, "1.50", 2)
  }
}
const configArb = (nullable: boolean): fc.Arbitrary<Record<string, ConfigValue | null>> =>
  fc.record(
    Object.fromEntries(KEYS.map((k) => [k, nullable ? fc.option(valueFor(k), { nil: null }) : valueFor(k)])) as Record<
      string,
      fc.Arbitrary<ConfigValue | null>
    >,
    { requiredKeys: [] }
  ).map((r) => {
    const out: Record<string, ConfigValue | null> = {}
    for (const [k, v] of Object.entries(r)) if (v !== undefined) out[k] = v
    return out
  })
const powerArb = fc.option(fc.constantFrom("running" as const, "stopped" as const), { nil: undefined })

/** What PVE would hold after the plan's writes (no PVE canonicalization: the worst case). */
const applyPlan = (
  values: Record<string, ConfigValue>,
  actions: ReadonlyArray<Action>
): Record<string, ConfigValue> => {
  const next = { ...values }
  for (const a of actions) {
    if (a._tag !== "SetConfig") continue
    for (const k of a.delete) delete next[k]
    Object.assign(next, a.set)
  }
  return next
}
const applyPower = (status: GuestStatus["status"], actions: ReadonlyArray<Action>): GuestStatus["status"] =>
  actions.reduce<GuestStatus["status"]>(
    (s, a) => (a._tag === "Start" ? "running" : a._tag === "Stop" ? "stopped" : s),
    status
  )

describe("plan: properties", () => {
  it("SetConfig keys are exactly the keys that are not equal after normalization", () => {
    fc.assert(
      fc.property(fc.constantFrom<GuestType>("qemu", "lxc"), configArb(true), configArb(false), (type, want, have) => {
        const p = plan(desiredOf({ 100: { config: want } }), [
          observedGuest({ vmid: 100, type, values: have as Record<string, ConfigValue> })
        ])
        // A document PVE's schema refuses for this type is not applied in part: no action at all.
        if (validateConfig(type, want).length > 0) {
          expect(p.invalid.length).toBeGreaterThan(0)
          expect(p.actions).toEqual([])
          return
        }
        expect(p.invalid).toEqual([])
        const sc = setConfigs(p.actions)[0]
        const expectedSet = Object.entries(want).filter(([k, v]) =>
          v !== null && !isEqual(type, k, v, have[k] ?? undefined)
        ).map(([k]) => k).sort()
        const expectedDelete = Object.entries(want).filter(([k, v]) => v === null && have[k] !== undefined).map(([k]) =>
          k
        ).sort()
        expect(Object.keys(sc?.set ?? {}).sort()).toEqual(expectedSet)
        expect([...(sc?.delete ?? [])].sort()).toEqual(expectedDelete)
        expect(p.actions.length).toBe(expectedSet.length + expectedDelete.length > 0 ? 1 : 0)
      }),
      { numRuns: 500 }
    )
  })
  it("applying the plan and planning again yields zero actions (convergence)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<GuestType>("qemu", "lxc"),
        configArb(true),
        configArb(false),
        powerArb,
        fc.constantFrom<GuestStatus["status"]>("running", "stopped"),
        (type, want, have, power, status) => {
          const desired = desiredOf({ 100: { config: want, ...(power === undefined ? {} : { power }) } })
          const first = plan(desired, [
            observedGuest({ vmid: 100, type, status, values: have as Record<string, ConfigValue> })
          ])
          if (first.invalid.length > 0) {
            // Refused by PVE's schema for this type: nothing planned, nothing to converge.
            expect(first.actions).toEqual([])
            return
          }
          const after = observedGuest({
            vmid: 100,
            type,
            status: applyPower(status, first.actions),
            values: applyPlan(have as Record<string, ConfigValue>, first.actions)
          })
          expect(plan(desired, [after]).actions).toEqual([])
        }
      ),
      { numRuns: 500 }
    )
  })
  it("a converged system plans zero actions, whatever PVE form the values are in", () => {
    // Desired written in one form, observed holding another form of the same state.
    const sameState = fc.constantFrom(
      ["memory", 2048, "current=2048"],
      ["tags", "B,a a", "a;b"],
      ["onboot", 0, undefined],
      ["description", "a\n\nb", "a\n\nb\n"],
      ["net0", "virtio,bridge=vmbr0", "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0"],
      ["cores", "4", 4],
      ["agent", 1, "enabled=1"]
    ) as fc.Arbitrary<readonly [string, ConfigValue, ConfigValue | undefined]>
    fc.assert(
      fc.property(fc.uniqueArray(sameState, { selector: (x) => x[0], maxLength: 7 }), powerArb, (pairs, power) => {
        const want = Object.fromEntries(pairs.map(([k, d]) => [k, d]))
        const have = Object.fromEntries(pairs.flatMap(([k, , o]) => (o === undefined ? [] : [[k, o]])))
        const status = power === "stopped" ? "stopped" : "running"
        const desired = desiredOf({ 100: { config: want, ...(power === undefined ? {} : { power }) } })
        expect(plan(desired, [observedGuest({ vmid: 100, type: "qemu", status, values: have })]).actions).toEqual([])
      })
    )
  })
  it("the Empty document plans zero actions for any cluster", () => {
    const guestArb = fc.record({
      vmid: fc.integer({ min: 100, max: 999_999_999 }),
      type: fc.constantFrom<GuestType>("qemu", "lxc"),
      status: fc.constantFrom<GuestStatus["status"]>("running", "stopped"),
      values: configArb(false) as fc.Arbitrary<Record<string, ConfigValue>>
    })
    fc.assert(fc.property(fc.array(guestArb, { maxLength: 20 }), (guests) => {
      const p = plan({ guests: {} }, guests.map(observedGuest))
      expect(p.actions).toEqual([])
      expect(p.skipped).toEqual([])
      expect(p.missing).toEqual([])
      expect(p.unmanaged).toEqual([...new Set(guests.map((g) => g.vmid))].sort((a, b) => a - b))
    }))
  })
  it("plans are deterministic: observed order does not matter", () => {
    fc.assert(fc.property(configArb(true), configArb(false), configArb(false), (want, a, b) => {
      const desired = desiredOf({ 100: { config: want, power: "running" }, 200: { config: want, power: "stopped" } })
      const g1 = observedGuest({ vmid: 100, status: "stopped", values: a as Record<string, ConfigValue> })
      const g2 = observedGuest({ vmid: 200, values: b as Record<string, ConfigValue> })
      expect(plan(desired, [g1, g2])).toEqual(plan(desired, [g2, g1]))
    }))
  })
})

describe("plan: node scope", () => {
  it("a desired guest on another node is reported as elsewhere: not planned, not missing, not unmanaged", () => {
    const desired = desiredOf({
      100: { power: "running", config: { cores: 2 } },
      200: { power: "running", config: { cores: 2 } }
    })
    const observed = [
      observedGuest({ vmid: 100, node: "pve1", status: "stopped", values: { cores: 1 } }),
      // Pending changes on pve2 are pve2's agent's to report.
      observedGuest({
        vmid: 200,
        node: "pve2",
        status: "stopped",
        values: { cores: 1 },
        pending: [{ key: "cores", value: 1, pending: 4 }]
      }),
      observedGuest({ vmid: 300, node: "pve2" })
    ]
    const p = plan(desired, observed, { node: "pve1" })
    expect([...new Set(p.actions.map((a) => a.guest.vmid))]).toEqual([100])
    expect(p.elsewhere).toEqual([{ vmid: 200, node: "pve2" }])
    expect(p.missing).toEqual([])
    expect(p.unmanaged).toEqual([])
    expect(p.restartRequired).toEqual([])
    expect(plan(desired, observed).elsewhere).toEqual([])
  })

  const NODES = ["pve1", "pve2", "pve3"] as const
  const clusterArb = fc.uniqueArray(
    fc.record({
      vmid: fc.integer({ min: 100, max: 130 }),
      node: fc.constantFrom(...NODES),
      type: fc.constantFrom<GuestType>("qemu", "lxc"),
      status: fc.constantFrom<GuestStatus["status"]>("running", "stopped"),
      values: configArb(false) as fc.Arbitrary<Record<string, ConfigValue>>
    }),
    { selector: (g) => g.vmid, maxLength: 12 }
  )
  const documentArb = fc.dictionary(
    fc.integer({ min: 100, max: 135 }).map(String),
    fc.record({ config: configArb(true), power: powerArb }).map(({ config, power }): DesiredGuest => ({
      config,
      ...(power === undefined ? {} : { power })
    })),
    { maxKeys: 12 }
  )

  it("the nodes' plans partition the cluster's plan: each action planned once, by the guest's node", () => {
    fc.assert(
      fc.property(clusterArb, documentArb, (guests, doc) => {
        const desired: DesiredState = { guests: doc }
        const whole = plan(desired, guests.map(observedGuest))
        const on = new Map(guests.map((g) => [g.vmid, g.node]))
        const perNode = NODES.map((node) => {
          // As observe answers in node scope: another node's guests are listed, never read.
          const observed = guests.map((g) => (g.node === node ? observedGuest(g) : { guest: observedGuest(g).guest }))
          return { node, p: plan(desired, observed, { node }) }
        })
        const paths = (issues: Plan["invalid"]) => issues.map((i) => i.path)
        const guestOf = (path: string) => Number(path.split(".")[1])
        for (const { node, p } of perNode) {
          expect(p.actions.every((a) => on.get(a.guest.vmid) === node)).toBe(true)
          expect(p.elsewhere.map((e) => e.vmid)).toEqual(
            guests.filter((g) => g.node !== node && Object.hasOwn(doc, String(g.vmid))).map((g) => g.vmid).sort((
              a,
              b
            ) => a - b)
          )
          expect(p.missing).toEqual(whole.missing)
          expect(p.unmanaged).toEqual(whole.unmanaged.filter((v) => on.get(v) === node))
          // The owner judges its guests in full; another node's guests by their values only.
          expect(p.invalid.filter((i) => on.get(guestOf(i.path)) === node)).toEqual(
            whole.invalid.filter((i) => on.get(guestOf(i.path)) === node)
          )
          expect(paths(whole.invalid)).toEqual(expect.arrayContaining(paths(p.invalid)))
        }
        if (perNode.some(({ p }) => p.invalid.length > 0)) return
        const byVmid = (a: Action, b: Action) => a.guest.vmid - b.guest.vmid
        // Within a guest the order is the plan's (SetConfig before power); across guests by vmid.
        expect(perNode.flatMap(({ p }) => p.actions).sort(byVmid)).toEqual([...whole.actions].sort(byVmid))
        expect(perNode.flatMap(({ p }) => p.skipped).sort((a, b) => a.vmid - b.vmid)).toEqual(whole.skipped)
      }),
      { numRuns: 300 }
    )
  })

  it("a value another node's guest may already hold never stops this node's actions", () => {
    // A bind mount only root@pam may set: pve2's container has it, pve1's agent cannot tell.
    const desired = desiredOf({
      100: { config: { description: "new" } },
      200: { config: { mp0: "/srv/data,mp=/data" } }
    })
    const mine = observedGuest({ vmid: 100, node: "pve1", values: { description: "old" } })
    const theirs: ObservedGuest = { guest: observedGuest({ vmid: 200, node: "pve2", type: "lxc" }).guest }
    const p = plan(desired, [mine, theirs], { node: "pve1" })
    expect(p.invalid).toEqual([])
    expect(p.actions.map((a) => a._tag)).toEqual(["SetConfig"])
    // Its own agent, which reads the guest, still judges who may write it.
    const owner = plan(desired, [
      { ...mine, guest: { ...mine.guest, node: "pve1" } },
      observedGuest({ vmid: 200, node: "pve2", type: "lxc" })
    ], {
      node: "pve2"
    })
    expect(owner.invalid.map((i) => i.path)).toEqual(["guests.200.config.mp0"])
  })
})
