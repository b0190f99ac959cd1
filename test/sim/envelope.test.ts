import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { startSimulator } from "../../src/sim/Simulator.js"
import { dataObject, request } from "./client.js"

const sim = startSimulator({
  authFailureDelay: 0,
  taskDuration: 5,
  guests: [{ vmid: 100, type: "qemu" }, { vmid: 101, type: "lxc" }]
})

// pve-http-server `PVE::APIServer::AnyEvent::response`, `PVE::APIServer::Formatter::Standard`;
// pve-manager `PVE::HTTPServer::rest_handler`.
describe("envelope and errors", () => {
  it.scoped("success is {data} with PVE's content type and Server header", () =>
    Effect.gen(function*() {
      const s = yield* sim
      const r = yield* request(s, "/version")
      expect(r.status).toBe(200)
      expect(r.headers["content-type"]).toBe("application/json;charset=UTF-8")
      expect(r.headers["server"]).toBe("pve-api-daemon/3.0")
      expect(dataObject(r).release).toBe("9.2")
      expect(Object.keys(r.body as object)).toEqual(["data"])
    }))

  it.scoped("handler error: reason phrase = first message line, body with message, Connection: close", () =>
    Effect.gen(function*() {
      const s = yield* sim
      const r = yield* request(s, "/nodes/pve1/qemu/999/status/current")
      expect(r.status).toBe(500)
      expect(r.statusMessage).toBe("Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist")
      expect(r.body).toEqual({
        data: null,
        message: "Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist\n"
      })
      expect(r.headers["connection"]).toBe("close")
      const l = yield* request(s, "/nodes/pve1/lxc/999/config")
      expect(l.statusMessage).toBe("Configuration file 'nodes/pve1/lxc/999.conf' does not exist")
    }))

  it.scoped("unknown route or method: 501 Method 'VERB /path' not implemented", () =>
    Effect.gen(function*() {
      const s = yield* sim
      const r = yield* request(s, "/nodes/pve1/nothing")
      expect(r.status).toBe(501)
      expect(r.statusMessage).toBe("Method 'GET /nodes/pve1/nothing' not implemented")
      expect(r.body).toEqual({ data: null, message: "Method 'GET /nodes/pve1/nothing' not implemented" })
      const p = yield* request(s, "/nodes/pve1/lxc/101/config", { method: "POST", form: { cores: "2" } })
      expect(p.status).toBe(501)
      expect(p.statusMessage).toBe("Method 'POST /nodes/pve1/lxc/101/config' not implemented")
    }))

  it.scoped("GET with a body is 501 Unexpected content", () =>
    Effect.gen(function*() {
      const s = yield* sim
      const r = yield* request(s, "/version", { method: "GET", form: { a: "1" } })
      expect(r.status).toBe(501)
      expect(r.statusMessage).toBe("Unexpected content for method 'GET'")
    }))

  it.scoped("400 parameter errors carry an errors map", () =>
    Effect.gen(function*() {
      const s = yield* sim
      const r = yield* request(s, "/nodes/pve1/qemu/100/status/start", { method: "POST", form: { bogus: "1" } })
      expect(r.status).toBe(400)
      expect(r.statusMessage).toBe("Parameter verification failed.")
      expect(r.body).toEqual({
        data: null,
        message: "Parameter verification failed.\n",
        errors: { bogus: "property is not defined in schema and the schema does not allow additional properties" }
      })
      expect(r.headers["connection"]).toBe("close")
    }))
})
