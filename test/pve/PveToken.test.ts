import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Redacted } from "effect"
import { authorizationHeader, parsePveToken } from "../../src/pve/PveToken.js"

const SECRET = "0b2c1e7a-5d3f-4a8e-9c61-2f4e8d7b9a10"

describe("PVE API token", () => {
  it.effect("splits at the last '=' and keeps the secret redacted", () =>
    Effect.gen(function*() {
      const token = yield* parsePveToken(`felhom@pve!agent=${SECRET}\n`)
      expect(token.tokenId).toBe("felhom@pve!agent")
      expect(Redacted.value(token.secret)).toBe(SECRET)
      expect(String(token.secret)).not.toContain(SECRET)
      expect(JSON.stringify(token)).not.toContain(SECRET)
      expect(authorizationHeader(token)).toBe(`PVEAPIToken=felhom@pve!agent=${SECRET}`)
    }))

  it.effect("tolerates a pasted PVEAPIToken= prefix", () =>
    Effect.gen(function*() {
      const token = yield* parsePveToken(`PVEAPIToken=root@pam!ci=${SECRET}`)
      expect(token.tokenId).toBe("root@pam!ci")
    }))

  it.effect("a malformed token is refused without echoing any of it", () =>
    Effect.gen(function*() {
      for (const bad of [SECRET, `felhom@pve=${SECRET}`, `felhom@pve!agent=`, `bad user@pve!x=${SECRET}`]) {
        const exit = yield* Effect.exit(parsePveToken(bad))
        expect(Exit.isFailure(exit)).toBe(true)
        expect(JSON.stringify(exit)).not.toContain(SECRET)
        if (Exit.isFailure(exit)) expect(String(exit.cause)).not.toContain(SECRET)
      }
    }))
})
