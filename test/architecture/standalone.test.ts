/**
 * The repository stands alone (docs/architecture.md, invariant 12). A comment cites PVE by its
 * upstream package, module and function, and our own design by a file of this repository. It
 * never cites a team document kept somewhere else, and never a bare `§` section number, which
 * only pointed into such a document, and never an issue number of our tracker. Every
 * `docs/<name>.md` a source cites exists.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { ROOT } from "../support/cli.js"

const SCANNED = ["src", "scripts", "test", "nix"]

/** This file names what it forbids, so it is left out of the scan. */
const SELF = path.relative(ROOT, path.join(import.meta.dirname, "standalone.test.ts"))

/** The team's reference files, which are not part of this repository. */
const OUTSIDE_DOCS = /\b(?:pve-api|design|effect-notes|peers|style)\.md\b|\beffect-notes\b/

/** A section sign must follow the document it points into: `RFC 9110 §10.2.3`, `docs/x.md §2`. */
const BARE_SECTION = /(?<!(?:RFC \d+|\.md) )§/

/** An issue of our tracker, which a clone does not have: say the why instead. */
const ISSUE_NUMBER = /\bissues? #?\d+\b|\bissue #\d+/i

const DOC_CITATION = /\bdocs\/([A-Za-z0-9_.-]+\.md)\b/g

const files = (dir: string): ReadonlyArray<string> =>
  fs.existsSync(dir)
    ? fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      const p = path.join(dir, e.name)
      return e.isDirectory() ? files(p) : e.isFile() ? [p] : []
    })
    : []

/** Every text file under the scanned folders, as [path from the root, lines]. */
const scanned = (): ReadonlyArray<{ readonly file: string; readonly lines: ReadonlyArray<string> }> =>
  SCANNED.flatMap((d) => files(path.join(ROOT, d))).flatMap((abs) => {
    const file = path.relative(ROOT, abs)
    const bytes = fs.readFileSync(abs)
    return file === SELF || bytes.includes(0) ? [] : [{ file, lines: bytes.toString("utf8").split("\n") }]
  })

const hits = (re: RegExp) =>
  scanned().flatMap(({ file, lines }) =>
    lines.flatMap((line, i) => (re.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : []))
  )

describe("standalone", () => {
  it("no file under src/, scripts/, test/ or nix/ cites a document kept outside the repository", () => {
    expect(scanned().length).toBeGreaterThan(100)
    expect(hits(OUTSIDE_DOCS)).toEqual([])
  })

  it("no § section number without the document it points into", () => {
    expect(hits(BARE_SECTION)).toEqual([])
  })

  it("no file names an issue of our tracker", () => {
    expect(hits(ISSUE_NUMBER)).toEqual([])
  })

  it("every docs/<name>.md cited under src/, scripts/, test/ or nix/ exists", () => {
    const cited = new Set(
      scanned().flatMap(({ lines }) => lines.flatMap((l) => [...l.matchAll(DOC_CITATION)].map((m) => m[1] ?? "")))
    )
    expect(cited.size).toBeGreaterThan(0)
    expect([...cited].filter((name) => !fs.existsSync(path.join(ROOT, "docs", name))).sort()).toEqual([])
  })
})
