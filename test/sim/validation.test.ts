import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { startSimulator } from "../../src/sim/Simulator.js"
import { request } from "./client.js"

const start = () =>
  startSimulator({
    https: false,
    authFailureDelay: 0,
    taskDuration: 5,
    guests: [{ vmid: 100, type: "qemu" }, { vmid: 101, type: "lxc" }]
  })

const errorsOf = (r: { body: unknown }) => (r.body as { errors?: Record<string, string> }).errors

// pve-common `PVE::JSONSchema` `validate`, `check_prop`, `check_type`.
describe("strict parameter validation", () => {
  it.scoped("booleans only 1/0 (or JSON true/false)", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const bad = yield* request(s, "/nodes/pve1/qemu/100/config", { method: "PUT", form: { onboot: "true" } })
      expect(bad.status).toBe(400)
      expect(errorsOf(bad)).toEqual({ onboot: "type check ('boolean') failed - got 'true'" })
      const json = yield* request(s, "/nodes/pve1/qemu/100/config", { method: "PUT", json: { onboot: true } })
      expect(json.status).toBe(200)
    }))

  it.scoped("integers, vmid range, dns-name, tags, digest length", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const c = yield* request(s, "/nodes/pve1/qemu/100/config", { method: "PUT", form: { cores: "two" } })
      expect(errorsOf(c)).toEqual({ cores: "type check ('integer') failed - got 'two'" })
      const v = yield* request(s, "/nodes/pve1/qemu/99/status/current")
      expect(errorsOf(v)).toEqual({ vmid: "invalid format - value does not look like a valid VM ID\n" })
      const n = yield* request(s, "/nodes/pve1/qemu/100/config", { method: "PUT", form: { name: "bad_name" } })
      expect(errorsOf(n)).toEqual({ name: "invalid format - value does not look like a valid DNS name\n" })
      const t = yield* request(s, "/nodes/pve1/qemu/100/config", { method: "PUT", form: { tags: "ok;bad tag!" } })
      expect(errorsOf(t)).toEqual({ tags: "invalid format - invalid characters in tag\n" })
      const d = yield* request(s, "/nodes/pve1/qemu/100/config", {
        method: "PUT",
        form: { name: "x", digest: "a".repeat(41) }
      })
      expect(errorsOf(d)).toEqual({ digest: "value may only be 40 characters long" })
    }))

  // pve-common PVE::JSONSchema::check_prop runs check_type, then check_format, then
  // maxLength/minLength, then maximum before minimum, then enum; the first failure is the
  // answer. pve-vmid (pve-common PVE::JSONSchema::pve_verify_vmid) has a format and a range.
  it.scoped("PVE checks type, then format, then length, then range: vmid 99 and 1000000000 are format errors", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const vmidError = "invalid format - value does not look like a valid VM ID\n"
      const low = yield* request(s, "/nodes/pve1/qemu/99/config")
      expect([low.status, errorsOf(low)]).toEqual([400, { vmid: vmidError }])
      const high = yield* request(s, "/nodes/pve1/qemu/1000000000/config")
      expect(errorsOf(high)).toEqual({ vmid: vmidError })
      const text = yield* request(s, "/nodes/pve1/lxc/abc/config")
      expect(errorsOf(text)).toEqual({ vmid: "type check ('integer') failed - got 'abc'" })
      // A leading + is an integer for check_type (is_integer), so only the format refuses it.
      const plus = yield* request(s, "/nodes/pve1/qemu/+100/config")
      expect(errorsOf(plus)).toEqual({ vmid: vmidError })
      // pve-snapshot-name: format pve-configid before maxLength 40.
      const bad = yield* request(s, "/nodes/pve1/qemu/100/snapshot", {
        method: "POST",
        form: { snapname: `1${"a".repeat(40)}` }
      })
      expect(errorsOf(bad)).toEqual({ snapname: `invalid format - invalid configuration ID '1${"a".repeat(40)}'\n` })
      // maximum before minimum does not matter for one value; a plain range is still a range error.
      const delay = yield* request(s, "/nodes/pve1/qemu/100/config", {
        method: "POST",
        form: { name: "x", background_delay: "31" }
      })
      expect(errorsOf(delay)).toEqual({ background_delay: "value must have a maximum value of 30" })
      // pve-configid-list allows `-` (pve-common $PVE::JSONSchema::CONFIGID_RE): an unknown key, not a format error.
      const dash = yield* request(s, "/nodes/pve1/qemu/100/config", { method: "PUT", form: { delete: "no-such-key" } })
      expect(errorsOf(dash)).toEqual({ delete: "unknown option 'no-such-key'" })
    }))

  it.scoped("snapshot names: regex, at least 2 chars, max 40, reserved", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const one = yield* request(s, "/nodes/pve1/qemu/100/snapshot", { method: "POST", form: { snapname: "a" } })
      expect(errorsOf(one)).toEqual({ snapname: "invalid format - invalid configuration ID 'a'\n" })
      const long = yield* request(s, "/nodes/pve1/qemu/100/snapshot", {
        method: "POST",
        form: { snapname: "a".repeat(41) }
      })
      expect(errorsOf(long)).toEqual({ snapname: "value may only be 40 characters long" })
      const missing = yield* request(s, "/nodes/pve1/qemu/100/snapshot", { method: "POST" })
      expect(errorsOf(missing)).toEqual({ snapname: "property is missing and it is not optional" })
      const cur = yield* request(s, "/nodes/pve1/qemu/100/snapshot", { method: "POST", form: { snapname: "current" } })
      expect([cur.status, cur.statusMessage]).toEqual([500, "unable to use snapshot name 'current' (reserved name)"])
      const pend = yield* request(s, "/nodes/pve1/qemu/100/snapshot", { method: "POST", form: { snapname: "PENDING" } })
      expect(pend.statusMessage).toBe("unable to use snapshot name 'PENDING' (reserved name)")
      const vz = yield* request(s, "/nodes/pve1/lxc/101/snapshot", { method: "POST", form: { snapname: "vzdump" } })
      expect(vz.statusMessage).toBe("unable to use snapshot name 'vzdump' (reserved name)")
    }))

  it.scoped("delete: unknown key, same key set and deleted, nothing to do", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const u = yield* request(s, "/nodes/pve1/qemu/100/config", { method: "PUT", form: { delete: "nosuchkey" } })
      expect(errorsOf(u)).toEqual({ delete: "unknown option 'nosuchkey'" })
      const both = yield* request(s, "/nodes/pve1/qemu/100/config", {
        method: "PUT",
        form: { name: "a", delete: "name" }
      })
      expect(both.status).toBe(400)
      expect(errorsOf(both)).toEqual({ delete: "you can't use '-name' and -delete name' at the same time" })
      const none = yield* request(s, "/nodes/pve1/qemu/100/config", { method: "PUT" })
      expect([none.status, none.statusMessage]).toEqual([500, "no options specified"])
      const sk = yield* request(s, "/nodes/pve1/qemu/100/config", { method: "PUT", form: { name: "a", skiplock: "1" } })
      expect(errorsOf(sk)).toEqual({ skiplock: "Only root may use this option." })
    }))

  it.scoped("query parameters merge over the body; conflicting URI duplicate is 400", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const r = yield* request(s, "/nodes/pve1/qemu/100/config", {
        method: "PUT",
        form: { name: "body" },
        query: { name: "query" }
      })
      expect(r.status).toBe(200)
      expect(s.cluster.view(100).pipe((e) => (e._tag === "Right" ? e.right.config["name"] : ""))).toBe("query")
      const dup = yield* request(s, "/nodes/pve1/qemu/100/status/current", { query: { vmid: "101" } })
      expect(errorsOf(dup)).toEqual({ vmid: "duplicate parameter (already defined in URI) with conflicting values!" })
    }))
})
