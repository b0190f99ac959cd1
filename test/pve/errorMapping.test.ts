import { describe, expect, it } from "@effect/vitest"
import { toPveError } from "../../src/pve/errorMapping.js"

const answer = (status: number, text: string, errors: Record<string, string> = {}) =>
  toPveError({ method: "POST", path: "/nodes/pve1/qemu/100/status/start", status, text, errors })

// Texts and codes from pve-manager `PVE::HTTPServer::rest_handler`, pve-common `PVE::Exception`,
// pve-guest-common `PVE::AbstractConfig` and the qemu-server / pve-container handlers.
describe("PVE error mapping", () => {
  it("401 with an empty body keeps the reason phrase", () => {
    const e = answer(401, "Authentication failed!")
    expect(e._tag).toBe("PveUnauthorized")
    expect(e.message).toContain("Authentication failed!")
  })

  it("403 names the ACL path and privilege PVE named", () => {
    const e = answer(403, "Permission check failed (/vms/100, VM.PowerMgmt)\n")
    expect(e).toMatchObject({ _tag: "PvePermissionDenied", aclPath: "/vms/100", privilege: "VM.PowerMgmt" })
  })

  it("403 with another text keeps the text", () => {
    const e = answer(403, "changing the hookscript is only allowed for root@pam\n")
    expect(e).toMatchObject({
      _tag: "PvePermissionDenied",
      detail: "changing the hookscript is only allowed for root@pam"
    })
  })

  it.each([
    ["Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist\n"],
    ["Configuration file 'nodes/pve1/lxc/101.conf' does not exist\n"],
    ["snapshot 'before' does not exist\n"]
  ])("missing config or snapshot → PveNotFound (%s)", (text) => {
    expect(answer(500, text)._tag).toBe("PveNotFound")
  })

  it("unknown task (400 with errors.upid) → PveNotFound", () => {
    expect(answer(400, "Parameter verification failed.\n", { upid: "no such task" })._tag).toBe("PveNotFound")
  })

  it.each([["VM is locked (backup)\n", "backup"], ["CT is locked (snapshot)\n", "snapshot"]])(
    "locked guest → PveGuestLocked with the lock (%s)",
    (text, lock) => {
      expect(answer(500, text)).toMatchObject({ _tag: "PveGuestLocked", lock })
    }
  )

  it("config flock timeout → PveConfigBusy", () => {
    expect(answer(500, "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout\n")._tag).toBe(
      "PveConfigBusy"
    )
  })

  it.each([
    ["checksum mismatch (file change by other user?)\n"],
    ["detected modified configuration - file changed by other user? Try again.\n"]
  ])("both digest-mismatch wordings → PveDigestMismatch (%s)", (text) => {
    expect(answer(500, text)._tag).toBe("PveDigestMismatch")
  })

  it("already running / not running → PveGuestState", () => {
    expect(answer(500, "CT 101 already running\n")).toMatchObject({ _tag: "PveGuestState", state: "running" })
    expect(answer(500, "VM 100 not running\n")).toMatchObject({ _tag: "PveGuestState", state: "not running" })
  })

  it("parameter errors keep PVE's errors map", () => {
    const e = answer(400, "Parameter verification failed.\n", {
      onboot: "type check ('boolean') failed - got 'true'\n"
    })
    expect(e).toMatchObject({
      _tag: "PveParameterError",
      errors: { onboot: "type check ('boolean') failed - got 'true'\n" }
    })
    expect(e.message).toContain("onboot: type check ('boolean') failed - got 'true'")
  })

  it("anything else keeps status and first line", () => {
    expect(answer(501, "Method 'GET /nodes/x' not implemented")).toMatchObject({
      _tag: "PveApiError",
      status: 501,
      detail: "Method 'GET /nodes/x' not implemented"
    })
    expect(answer(500, "no options specified\n")).toMatchObject({ _tag: "PveApiError", detail: "no options specified" })
  })
})
