import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { parseStrictJson } from "../../src/domain/strictJson.js"

describe("parseStrictJson", () => {
  it.prop("agrees with JSON.parse on every JSON.stringify output (no duplicates there)", [
    fc.jsonValue({ maxDepth: 5 })
  ], ([v]) => {
    const text = JSON.stringify(v, null, 1)
    expect(parseStrictJson(text)).toEqual(Either.right(JSON.parse(text)))
  })

  it("refuses duplicate keys, also behind escapes and at depth, but not equal keys in sibling objects", () => {
    expect(parseStrictJson(`{"a":1,"a":2}`)).toEqual(Either.left("duplicate key a"))
    expect(parseStrictJson(`{"x":{"a\\"b":1,"a\\u0022b":2}}`)).toEqual(Either.left(`duplicate key x.a"b`))
    expect(parseStrictJson(`{"x":[{"a":1},{"a":2}],"y":{"a":"}\\"{"},"z":1}`)._tag).toBe("Right")
    expect(parseStrictJson(`{"x":{"a":1},"y":{"b":1,"b":2}}`)).toEqual(Either.left("duplicate key y.b"))
    expect(parseStrictJson("{nope")).toEqual(Either.left("not valid JSON"))
  })
})
