import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import { Action, plannedOpId, SetConfig, Start, Stop } from "../../src/domain/Action.js"
import { decodeDesiredState, emptyDesiredState } from "../../src/domain/DesiredState.js"
import { GuestRef } from "../../src/domain/Guest.js"

const issuesOf = (input: unknown) => {
  const r = decodeDesiredState(input, "test.yaml")
  return Either.isLeft(r) ? r.left.issues : []
}

describe("DesiredState decode", () => {
  it("accepts a document; booleans become 1/0; null means delete", () => {
    const r = decodeDesiredState({
      revision: "r7",
      guests: {
        "100": { power: "running", config: { onboot: true, cores: 4, description: "x", tags: null } },
        "101": {}
      }
    })
    expect(Either.isRight(r)).toBe(true)
    if (Either.isRight(r)) {
      expect(r.right.guests["100"]?.config).toEqual({ onboot: 1, cores: 4, description: "x", tags: null })
    }
    expect(Either.isRight(decodeDesiredState(emptyDesiredState))).toBe(true)
  })
  it("names every bad path at once", () => {
    const issues = issuesOf({
      guests: {
        "12": {},
        "0100": {},
        "100": { power: "on", config: { digest: "x", Cores: 1, vmgenid: "y", ok: [1], lock: "backup" }, extra: 1 },
        "101": { config: { smbios1: "uuid=1", parent: "snap", meta: "x" } }
      },
      bogus: true
    })
    const paths = issues.map((i) => i.path)
    for (
      const p of [
        "guests.12",
        "guests.0100",
        "guests.100.power",
        "guests.100.config.digest",
        "guests.100.config.Cores",
        "guests.100.config.vmgenid",
        "guests.100.config.ok",
        "guests.100.config.lock",
        "guests.100.extra",
        "guests.101.config.smbios1",
        "guests.101.config.parent",
        "guests.101.config.meta",
        "bogus"
      ]
    ) expect(paths, p).toContain(p)
    const digest = issues.find((i) => i.path === "guests.100.config.digest")
    expect(digest?.message).toContain("cannot be managed")
    expect(issues.find((i) => i.path === "guests.12")?.message).toContain("vmid")
  })
  it("the error message lists every issue", () => {
    const r = decodeDesiredState({ guests: { "99": {}, "100": { config: { lock: "x" } } } }, "desired.json")
    expect(Either.isLeft(r)).toBe(true)
    if (Either.isLeft(r)) {
      expect(r.left._tag).toBe("DesiredStateInvalid")
      expect(r.left.message).toContain("guests.99")
      expect(r.left.message).toContain("guests.100.config.lock")
      expect(r.left.message).toContain("desired.json")
    }
  })
  it("refuses a non-object document", () => {
    expect(issuesOf(null).length).toBeGreaterThan(0)
    expect(issuesOf({}).map((i) => i.path)).toContain("guests")
  })
})

describe("Action", () => {
  const guest = Schema.decodeSync(GuestRef)({ vmid: 100, node: "pve1", type: "qemu" })
  const moved = Schema.decodeSync(GuestRef)({ vmid: 100, node: "pve2", type: "qemu" })
  const set = SetConfig.make({ guest, set: { cores: 4, tags: "a;b" }, delete: ["numa", "agent"], digest: "d" })

  it("op ids are deterministic, sensitive to params and revision, blind to node and key order", () => {
    expect(plannedOpId(set, "r1")).toMatch(/^[0-9a-f]{64}$/)
    expect(plannedOpId(set, "r1")).toBe(
      plannedOpId(
        SetConfig.make({ guest: moved, set: { tags: "a;b", cores: 4 }, delete: ["agent", "numa"], digest: "d" }),
        "r1"
      )
    )
    expect(plannedOpId(set, "r1")).not.toBe(plannedOpId(set, "r2"))
    expect(plannedOpId(set, undefined)).not.toBe(plannedOpId(set, "r1"))
    expect(plannedOpId(Start.make({ guest }), "r1")).not.toBe(
      plannedOpId(Stop.make({ guest, shutdownTimeout: 60 }), "r1")
    )
    expect(plannedOpId(Stop.make({ guest, shutdownTimeout: 60 }), "r1")).not.toBe(
      plannedOpId(Stop.make({ guest, shutdownTimeout: 30 }), "r1")
    )
  })
  it("actions round-trip through their schema (journal encoding)", () => {
    for (const a of [set, Start.make({ guest }), Stop.make({ guest, shutdownTimeout: 60 })]) {
      const encoded = Schema.encodeSync(Action)(a)
      const decoded = Schema.decodeUnknownSync(Action)(JSON.parse(JSON.stringify(encoded)))
      expect(plannedOpId(decoded, "r")).toBe(plannedOpId(a, "r"))
      expect(decoded._tag).toBe(a._tag)
    }
  })
})
