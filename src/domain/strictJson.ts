/**
 * JSON parsing that refuses duplicate object keys. JSON.parse keeps the last of two equal keys
 * while other parsers keep the first (RFC 8259 §4 leaves it open), so `{"aud":"a","aud":"b"}`
 * would be signed as one op and read as another by a hub or an auditor. Duplicate keys are
 * compared after unescaping ("a" and "\u0061" are the same key).
 */
import { Either } from "effect"

type Frame = { readonly keys: Set<string>; expectKey: boolean } | "array"

/** The first duplicated key (by its path of keys), or undefined; `text` must be valid JSON. */
const firstDuplicateKey = (text: string): string | undefined => {
  const stack: Array<Frame> = []
  const path: Array<string> = []
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    const top = stack[stack.length - 1]
    if (c === "{") {
      stack.push({ keys: new Set(), expectKey: true })
    } else if (c === "[") {
      stack.push("array")
    } else if (c === "}" || c === "]") {
      if (c === "}" && top !== undefined && top !== "array" && top.keys.size > 0) path.pop()
      stack.pop()
    } else if (c === "," && top !== undefined && top !== "array") {
      top.expectKey = true
    } else if (c === "\"") {
      let j = i + 1
      while (j < text.length && text[j] !== "\"") j += text[j] === "\\" ? 2 : 1
      if (top !== undefined && top !== "array" && top.expectKey) {
        // The token is valid JSON (the caller parsed the whole text first), so this cannot fail.
        const key = String(JSON.parse(text.slice(i, j + 1)))
        if (top.keys.has(key)) return [...path.slice(0, -1), key].join(".")
        if (top.keys.size > 0) path.pop()
        path.push(key)
        top.keys.add(key)
        top.expectKey = false
      }
      i = j
    }
  }
  return undefined
}

/** Parses JSON text; refuses invalid JSON and duplicate keys without quoting the input. */
export const parseStrictJson = (text: string): Either.Either<unknown, string> => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    // JSON.parse's message quotes the input; the position is not worth leaking it.
    return Either.left("not valid JSON")
  }
  const duplicate = firstDuplicateKey(text)
  return duplicate === undefined ? Either.right(value) : Either.left(`duplicate key ${duplicate}`)
}
