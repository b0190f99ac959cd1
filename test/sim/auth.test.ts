import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { startSimulator } from "../../src/sim/Simulator.js"
import { data, dataRows, request } from "./client.js"

const tokens = [
  { tokenid: "felhom@pve!agent", secret: "s3cret=with=equals", privileges: [{ path: "/", privs: ["*"] }] },
  { tokenid: "ro@pve!audit", secret: "ro", privileges: [{ path: "/vms", privs: ["VM.Audit"] }] },
  {
    tokenid: "lim@pve!tok",
    secret: "lim",
    privsep: true,
    privileges: [{ path: "/vms/100", privs: ["VM.Audit", "VM.PowerMgmt", "VM.Config.Options"] }],
    userPrivileges: [{ path: "/", privs: ["VM.Audit", "VM.Config.Options"] }]
  }
]
const start = (authFailureDelay = 0) =>
  startSimulator({
    https: false,
    authFailureDelay,
    tokens,
    guests: [{ vmid: 100, type: "qemu" }, { vmid: 101, type: "qemu" }]
  })

// pve-http-server `PVE::APIServer::Formatter::extract_auth_value`, pve-manager `PVE::HTTPServer::auth_handler`,
// pve-access-control `PVE::AccessControl::verify_token` and `PVE::RPCEnvironment::permissions`.
describe("authentication and permissions", () => {
  it.scoped("no credentials: 401 No ticket, empty body", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const r = yield* request(s, "/version", { auth: null })
      expect([r.status, r.statusMessage, r.raw.length]).toEqual([401, "No ticket", 0])
      expect(r.headers["connection"]).toBe("close")
    }))

  it.scoped("token header: `=` or space, URI-unescaped, split at the last `=`", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const a = yield* request(s, "/version", { auth: "PVEAPIToken=felhom@pve!agent=s3cret=with=equals" })
      expect(a.status).toBe(401) // split at the LAST `=`: secret "equals"
      const b = yield* request(s, "/version", { auth: "PVEAPIToken ro@pve!audit=ro" })
      expect(b.status).toBe(200)
      const c = yield* request(s, "/version", { auth: "PVEAPIToken=ro%40pve%21audit%3Dro" })
      expect(c.status).toBe(200)
      const d = yield* request(s, "/version", { auth: "PVEAPIToken=ro@pve!audit=wrong" })
      expect([d.status, d.statusMessage, d.raw.length]).toEqual([401, "Authentication failed!", 0])
    }))

  it.scoped("failed authentication is delayed by authFailureDelay", () =>
    Effect.gen(function*() {
      const s = yield* start(200)
      const t0 = Date.now()
      const r = yield* request(s, "/version", { auth: "PVEAPIToken=nobody@pve!x=y" })
      expect(r.status).toBe(401)
      expect(Date.now() - t0).toBeGreaterThanOrEqual(190)
    }))

  it.scoped("403 Permission check failed (PATH, PRIV); ACLs propagate from /vms", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const ro = "PVEAPIToken=ro@pve!audit=ro"
      const ok = yield* request(s, "/nodes/pve1/qemu/101/status/current", { auth: ro })
      expect(ok.status).toBe(200)
      const r = yield* request(s, "/nodes/pve1/qemu/100/status/start", { method: "POST", auth: ro })
      expect(r.status).toBe(403)
      expect(r.statusMessage).toBe("Permission check failed (/vms/100, VM.PowerMgmt)")
      expect(r.body).toEqual({ data: null, message: "Permission check failed (/vms/100, VM.PowerMgmt)\n" })
    }))

  it.scoped("privsep token = token ACLs ∩ user privileges; per-key config checks", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const lim = "PVEAPIToken=lim@pve!tok=lim"
      // Token has PowerMgmt, user does not: intersection denies.
      const p = yield* request(s, "/nodes/pve1/qemu/100/status/start", { method: "POST", auth: lim })
      expect(p.statusMessage).toBe("Permission check failed (/vms/100, VM.PowerMgmt)")
      const other = yield* request(s, "/nodes/pve1/qemu/101/status/current", { auth: lim })
      expect(other.statusMessage).toBe("Permission check failed (/vms/101, VM.Audit)")
      const name = yield* request(s, "/nodes/pve1/qemu/100/config", { method: "PUT", form: { name: "web" }, auth: lim })
      expect(name.status).toBe(200)
      const cores = yield* request(s, "/nodes/pve1/qemu/100/config", { method: "PUT", form: { cores: "2" }, auth: lim })
      expect(cores.statusMessage).toBe("Permission check failed (/vms/100, VM.Config.CPU)")
      const list = yield* request(s, "/cluster/resources", { auth: lim, query: { type: "vm" } })
      expect(dataRows(list).map((x) => x.vmid)).toEqual([100])
    }))

  it.scoped("GET /access/permissions shows the caller's effective privileges", () =>
    Effect.gen(function*() {
      const s = yield* start()
      const r = yield* request(s, "/access/permissions", { auth: "PVEAPIToken=lim@pve!tok=lim" })
      expect(data(r)).toEqual({ "/vms/100": { "VM.Audit": 1, "VM.Config.Options": 1 } })
      const p = yield* request(s, "/access/permissions", {
        auth: "PVEAPIToken=ro@pve!audit=ro",
        query: { path: "/vms/5000" }
      })
      expect(data(p)).toEqual({ "/vms/5000": { "VM.Audit": 1 } })
    }))
})
