/**
 * What a desired document must be before anything reads its meaning: at most 1 MiB (refused
 * unread, also from an endless file), strict UTF-8, no duplicate keys in JSON or YAML, and no
 * control characters in config values (newlines and tabs only in a description). Each refusal
 * names the path, and nothing of the document is used.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { DEFAULT_MAX_DOCUMENT_BYTES } from "../../src/domain/documentBytes.js"
import { parseDesiredBytes, readDocumentBytes } from "../../src/reconcile/DesiredProvider.js"

const bytes = (text: string) => Buffer.from(text, "utf8")
const refusal = (input: Uint8Array, source = "doc.yaml", max?: number) =>
  Either.match(parseDesiredBytes(input, source, max), { onLeft: (e) => e.message, onRight: () => "accepted" })

describe("the desired document at the door", () => {
  it("a document over the limit is refused before it is parsed", () => {
    expect(refusal(bytes("guests: {}\n"), "doc.yaml", 8)).toBe(
      "desired state from doc.yaml rejected: (document): the document is larger than 8 bytes"
    )
    expect(refusal(Buffer.alloc(DEFAULT_MAX_DOCUMENT_BYTES + 1, 0x20))).toContain(
      `larger than ${DEFAULT_MAX_DOCUMENT_BYTES} bytes`
    )
  })

  it.effect("an endless file is read only up to the limit (never /dev/zero whole)", () =>
    Effect.gen(function*() {
      const read = yield* readDocumentBytes("/dev/zero", 1024)
      expect(read.length).toBe(1025)
      expect(refusal(read, "/dev/zero", 1024)).toContain("larger than 1024 bytes")
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it("bytes that are not UTF-8 are refused, never turned into U+FFFD", () => {
    const latin1 = Buffer.concat([
      bytes("guests:\n  \"100\":\n    config:\n      description: caf"),
      Buffer.from([0xe9]),
      bytes("\n")
    ])
    expect(refusal(latin1)).toBe("desired state from doc.yaml rejected: (document): the document is not valid UTF-8")
  })

  it("duplicate keys are refused in JSON and in YAML", () => {
    expect(refusal(bytes(`{"guests":{"100":{"config":{"memory":1024,"memory":4096}}}}`), "doc.json"))
      .toBe("desired state from doc.json rejected: (document): invalid JSON: duplicate key guests.100.config.memory")
    expect(refusal(bytes("guests:\n  \"100\":\n    power: running\n    power: stopped\n"))).toMatch(
      /invalid YAML: Map keys must be unique at line 4/
    )
  })

  it("control characters: refused in every value, but newlines and tabs in a description", () => {
    const doc = (config: Record<string, string>) => bytes(JSON.stringify({ guests: { "100": { config } } }))
    expect(refusal(doc({ description: "line one\nline two\twith a tab" }), "doc.json")).toBe("accepted")
    expect(refusal(doc({ description: "nul\u0000byte" }), "doc.json"))
      .toContain(
        "guests.100.config.description: contains the control character U+0000; a description may hold newlines and tabs"
      )
    expect(refusal(doc({ tags: "web\nprod" }), "doc.json"))
      .toContain(
        "guests.100.config.tags: contains the control character U+000A; tags must be one line of printable text"
      )
    expect(refusal(doc({ name: "a\u007fb" }), "doc.json")).toContain(
      "guests.100.config.name: contains the control character U+007F"
    )
  })
})
