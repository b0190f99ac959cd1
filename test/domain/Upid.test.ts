import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc, Schema } from "effect"
import { formatUpid, parseUpid, type Upid, UpidFromString, upidParts } from "../../src/domain/Upid.js"

const label = fc.stringMatching(/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,14}[a-zA-Z0-9])?$/)
const field = fc.stringMatching(/^[^:\s/]{1,12}$/)
const arbUpid: fc.Arbitrary<Upid> = fc.record({
  node: label,
  pid: fc.integer({ min: 0, max: 0xffffffff }),
  // pstart grows to 9 hex digits after ~497 days of uptime (pve-common `PVE::UPID::decode`).
  pstart: fc.integer({ min: 0, max: 0xfffffffff }),
  starttime: fc.integer({ min: 0, max: 0xffffffff }),
  type: field,
  id: fc.oneof(fc.constant(""), fc.integer({ min: 100, max: 999999999 }).map(String)),
  user: fc.tuple(field, label, fc.option(label)).map(([u, realm, token]) =>
    token === null ? `${u}@${realm}` : `${u}@${realm}!${token}`
  )
})

describe("UPID", () => {
  it("formats PVE's own example exactly: uppercase 8-hex fields and the trailing colon", () => {
    const upid = formatUpid({
      node: "pve1",
      pid: 0x1a2b,
      pstart: 0x3c4d5e,
      starttime: 0x67a1b2c3,
      type: "qmstart",
      id: "100",
      user: "felhom@pve!agent"
    })
    expect(upid).toBe("UPID:pve1:00001A2B:003C4D5E:67A1B2C3:qmstart:100:felhom@pve!agent:")
  })

  it.prop("parse inverts format for every UPID", [arbUpid], ([u]) => {
    const text = formatUpid(u)
    expect(Either.getOrThrow(parseUpid(text))).toEqual(u)
    expect(formatUpid(Either.getOrThrow(parseUpid(text)))).toBe(text)
  })

  it.prop("lowercase hex parses to the same numbers", [arbUpid], ([u]) => {
    const lower = formatUpid(u).replace(/:([0-9A-F]{8,9}):([0-9A-F]{8,9}):([0-9A-F]{8}):/, (m) => m.toLowerCase())
    expect(Either.getOrThrow(parseUpid(lower))).toEqual(u)
  })

  it("rejects a UPID without the trailing colon, with short hex, or with a slash", () => {
    for (
      const bad of [
        "UPID:pve1:00001A2B:003C4D5E:67A1B2C3:qmstart:100:root@pam",
        "UPID:pve1:1A2B:003C4D5E:67A1B2C3:qmstart:100:root@pam:",
        "UPID:pve1:00001A2B:003C4D5E:67A1B2C3:qm/start:100:root@pam:",
        "upid:pve1:00001A2B:003C4D5E:67A1B2C3:qmstart:100:root@pam:"
      ]
    ) {
      const result = parseUpid(bad)
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) expect(result.left.message).toBe(`unable to parse worker upid '${bad}'`)
    }
  })

  it("accepts node-level tasks with an empty id", () => {
    const parsed = parseUpid("UPID:pve1:00001A2B:003C4D5E:67A1B2C3:aptupdate::root@pam:")
    expect(Either.map(parsed, (u) => u.id)).toEqual(Either.right(""))
  })

  it.prop("a task row's UPID parts are what its UPID parses to, in the text's order", [arbUpid], ([u]) => {
    const row = { upid: formatUpid(u), ...u, tokenid: "agent", status: "stopped", exitstatus: "OK" }
    const parts = upidParts(row)
    expect(parts).toEqual(Either.getOrThrow(parseUpid(row.upid)))
    expect(Object.keys(parts)).toEqual(["node", "pid", "pstart", "starttime", "type", "id", "user"])
  })

  it.prop("the Schema transform round-trips", [arbUpid], ([u]) => {
    const text = Schema.encodeSync(UpidFromString)(u)
    expect(Schema.decodeSync(UpidFromString)(text)).toEqual(u)
  })
})
