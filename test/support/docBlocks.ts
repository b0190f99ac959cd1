/**
 * Shell blocks of our Markdown docs as commands, so a test can run a walk-through exactly as
 * written: the first ```sh block under a heading, with comments dropped, `\` continuations
 * joined, and each line split into words (double quotes group; no other shell syntax is used
 * in the docs).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { ROOT } from "./cli.js"

export const shBlock = (doc: string, heading: string): ReadonlyArray<string> => {
  const text = fs.readFileSync(path.join(ROOT, doc), "utf8")
  const at = text.indexOf(heading)
  if (at === -1) throw new Error(`${doc} has no heading ${heading}`)
  const block = /```sh\n([\s\S]*?)```/.exec(text.slice(at))?.[1] ?? ""
  return block.replace(/\\\n\s*/g, " ").split("\n")
    .map((l) => l.replace(/(^|\s)#.*$/, "").trim())
    .filter((l) => l !== "")
}

/** Words of one command line: spaces split, double quotes group (and are removed), as sh does. */
export const words = (line: string): ReadonlyArray<string> => {
  const out: Array<string> = []
  let current = ""
  let quoted = false
  let started = false
  for (const c of line) {
    if (c === "\"") {
      quoted = !quoted
      started = true
    } else if (c === " " && !quoted) {
      if (started) out.push(current)
      current = ""
      started = false
    } else {
      current += c
      started = true
    }
  }
  if (started) out.push(current)
  return out
}

/** Every ```sh block of a doc, each with the nearest heading above it. */
export const allShBlocks = (doc: string): ReadonlyArray<{ readonly heading: string; readonly text: string }> => {
  const text = fs.readFileSync(path.join(ROOT, doc), "utf8")
  const blocks: Array<{ heading: string; text: string }> = []
  let heading = ""
  let inBlock: string | undefined
  let fence = false
  for (const line of text.split("\n")) {
    if (inBlock !== undefined) {
      if (line.startsWith("```")) {
        blocks.push({ heading, text: inBlock })
        inBlock = undefined
      } else inBlock += `${line}\n`
    } else if (fence) {
      if (line.startsWith("```")) fence = false
    } else if (line.startsWith("```sh")) inBlock = ""
    else if (line.startsWith("```")) fence = true
    else if (/^#{1,6} /.test(line)) heading = line
  }
  return blocks
}
