/**
 * Folders import one way: a folder may import the folders on its own floor or below, never one
 * above. The floors, lowest first, are listed below (README, "Layout"); no two folders on
 * different floors can import each other in a ring.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { ROOT } from "../support/cli.js"

const FLOORS: ReadonlyArray<ReadonlyArray<string>> = [
  ["domain", "net", "os"],
  ["pve", "state", "sim", "config"],
  ["gate"],
  ["reconcile"],
  ["authz"],
  ["hub", "selftest"],
  ["app"],
  ["daemon"],
  ["cli"]
]

const floorOf = (folder: string): number => FLOORS.findIndex((f) => f.includes(folder))

const sources = (dir: string): ReadonlyArray<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    return e.isDirectory() ? sources(p) : e.name.endsWith(".ts") ? [p] : []
  })

const SRC = path.join(ROOT, "src")

/** Every relative import of src/, as [importing file, imported folder]. */
const imports = (): ReadonlyArray<{ readonly file: string; readonly from: string; readonly to: string }> =>
  sources(SRC).flatMap((file) => {
    const from = path.relative(SRC, file).split(path.sep)[0] ?? ""
    if (from.endsWith(".ts")) return [] // src/main.ts sits above every floor
    return [...fs.readFileSync(file, "utf8").matchAll(/from "(\.{1,2}\/[^"]+)"/g)].flatMap((m) => {
      const target = path.relative(SRC, path.resolve(path.dirname(file), m[1] ?? ""))
      const to = target.split(path.sep)[0] ?? ""
      return to === from || target.startsWith("..") ? [] : [{ file: path.relative(ROOT, file), from, to }]
    })
  })

describe("layers", () => {
  it("every folder of src/ has a floor", () => {
    const folders = fs.readdirSync(SRC, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)
    expect(folders.filter((f) => floorOf(f) === -1)).toEqual([])
  })

  it("no folder imports a folder on a higher floor", () => {
    const upward = imports()
      .filter((i) => floorOf(i.to) > floorOf(i.from))
      .map((i) => `${i.file}: ${i.from} → ${i.to}`)
    expect(upward).toEqual([])
  })
})
