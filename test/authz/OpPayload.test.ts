/** A signed set-config obeys the desired document's rules: no key PVE sets itself, no control characters. */
import { describe, expect, it } from "@effect/vitest"
import { Either, ParseResult } from "effect"
import { decodeOpPayload } from "../../src/authz/OpPayload.js"

const payload = (action: unknown) => ({
  op_id: "op-1",
  iss: "hub",
  aud: "pve1",
  target: { vmid: 100 },
  iat: 1_000,
  exp: 2_000,
  seq: 1,
  action
})

const problem = (action: unknown): string =>
  Either.match(decodeOpPayload(payload(action)), {
    onLeft: (e) => ParseResult.ArrayFormatter.formatErrorSync(e).map((i) => i.message).join("; "),
    onRight: () => "accepted"
  })

describe("signed set-config payloads", () => {
  it("may not name lock, digest or another key PVE maintains, set or deleted", () => {
    expect(problem({ kind: "set-config", set: { lock: "backup" }, delete: [] })).toContain(
      "config key \"lock\" cannot be managed"
    )
    expect(problem({ kind: "set-config", set: { digest: "ab" }, delete: [] })).toContain(
      "config key \"digest\" cannot be managed"
    )
    expect(problem({ kind: "set-config", set: {}, delete: ["parent"] })).toContain(
      "config key \"parent\" cannot be managed"
    )
  })

  it("refuse control characters, but a description's newlines", () => {
    expect(problem({ kind: "set-config", set: { description: "two\nlines" }, delete: [] })).toBe("accepted")
    expect(problem({ kind: "set-config", set: { tags: "a\nb" }, delete: [] })).toContain(
      "tags: contains the control character U+000A"
    )
    expect(problem({ kind: "set-config", set: { description: "a\u0000b" }, delete: [] })).toContain("U+0000")
  })
})
