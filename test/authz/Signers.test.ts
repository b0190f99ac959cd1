import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { loadSigners, parseSignersText, requiredCapabilities } from "../../src/authz/Signers.js"
import { tempDir } from "../state/support.js"
import { keyMaterial, makeKey } from "./support.js"

const key = makeKey()
const pem = String(key.publicKey.export({ format: "pem", type: "spki" }))
const raw = Buffer.from(key.publicKey.export({ format: "jwk" }).x ?? "", "base64url").toString("base64")

describe("Signers", () => {
  it("reads JSON and YAML, with PEM or raw base64 keys", () => {
    const json = parseSignersText(
      JSON.stringify({ signers: [{ keyid: key.keyid, publicKey: pem, capabilities: ["power"] }] })
    )
    const yaml = parseSignersText(
      `signers:\n  - keyid: ${key.keyid}\n    publicKey: ${raw}\n    capabilities: [power, irreversible]\n`
    )
    expect(Either.isRight(json) && json.right.byKeyId.get(key.keyid)?.capabilities.has("power")).toBe(true)
    expect(Either.isRight(yaml) && yaml.right.byKeyId.get(key.keyid)?.capabilities.has("irreversible")).toBe(true)
  })

  it("names bad entries by path and never echoes a key", () => {
    const priv = String(key.privateKey.export({ format: "pem", type: "pkcs8" }))
    const text = JSON.stringify({
      signers: [
        { keyid: "a", publicKey: priv, capabilities: ["power"] },
        { keyid: "a", publicKey: raw, capabilities: ["root"] },
        { keyid: "b", publicKey: "AAAA", capabilities: ["power"] }
      ]
    })
    const result = parseSignersText(text)
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isRight(result)) return
    expect(result.left.join("\n")).toContain("signers.1.capabilities.0")
    const second = parseSignersText(JSON.stringify({
      signers: [
        { keyid: "a", publicKey: priv, capabilities: ["power"] },
        { keyid: "a", publicKey: raw, capabilities: ["power"] },
        { keyid: "b", publicKey: "AAAA", capabilities: ["power"] }
      ]
    }))
    const issues = Either.isLeft(second) ? second.left.join("\n") : ""
    expect(issues).toContain("signers.0.publicKey")
    expect(issues).toContain("signers.1.keyid: duplicate")
    expect(issues).toContain("signers.2.publicKey")
    for (const m of keyMaterial(key)) expect(issues).not.toContain(m)
  })

  it.scoped("an absent or empty file is 'no signers configured'; a broken one is an error", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const absent = yield* loadSigners(path.join(dir, "missing.json"))
      expect(absent.byKeyId.size).toBe(0)
      expect(absent.emptyReason).toContain("no signers configured")
      const empty = path.join(dir, "empty.yaml")
      fs.writeFileSync(empty, JSON.stringify({ signers: [] }))
      expect((yield* loadSigners(empty)).byKeyId.size).toBe(0)
      const broken = path.join(dir, "broken.yaml")
      fs.writeFileSync(broken, "signers: [")
      const error = yield* Effect.flip(loadSigners(broken))
      expect(error._tag).toBe("SignersFileInvalid")
    }))

  it("capabilities per action: rollback and delete also need irreversible", () => {
    expect(requiredCapabilities({ kind: "shutdown" })).toEqual(["power"])
    expect(requiredCapabilities({ kind: "set-config", set: {}, delete: ["x"] })).toEqual(["config"])
    expect(requiredCapabilities({ kind: "snapshot-create", name: "s1" })).toEqual(["snapshot"])
    expect(requiredCapabilities({ kind: "snapshot-delete", name: "s1" })).toEqual(["snapshot", "irreversible"])
  })
})
