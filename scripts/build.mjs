#!/usr/bin/env node
/**
 * Builds the program: one ESM bundle for Node 20 in dist/ (dist/main.js, what
 * bin/felhom-agent.js runs) with code splitting, so each subcommand's implementation is a chunk
 * of its own, loaded by the `import()` in its handler (src/cli/commands/*.ts) only when it
 * runs. `felhom-agent --version` then loads the command tree and little else.
 *
 * Safe beside a concurrent build or a running CLI (tests and engineers share one working tree):
 * chunk names carry a content hash, every file is written to a temporary name and renamed (the
 * entry last), unchanged files are not rewritten, and files of older builds are pruned only
 * once they are 10 minutes old — a process started just before keeps finding its chunks.
 *
 * `buildCrash` bundles the crash tests' program (test/support/crashEntry.ts: the same CLI, with
 * the engine able to pause at a phase) into dist-test/, the same way; it is never shipped.
 *
 *   node scripts/build.mjs        (npm run build; also the vitest globalSetup)
 */
import * as esbuild from "esbuild"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
export const OUT_DIR = "dist"
export const ENTRY_OUT = "dist/main.js"
export const CRASH_OUT_DIR = "dist-test"
export const CRASH_ENTRY_OUT = "dist-test/crash.js"

const PRUNE_AFTER_MS = 10 * 60_000

/**
 * Named imports from a package's index (`import { Effect, Option } from "effect"`) become
 * imports of the modules themselves (`import * as Effect from "effect/Effect"`). With code
 * splitting, esbuild assigns whole files to chunks by which entry points reach them: an index
 * reached from the entry takes every module any lazy chunk uses into the entry's static
 * imports (measured: `Option` from "effect" in the entry, `Stream` in a lazy chunk, gave an
 * 826 KiB entry; from "effect/Option", 27 KiB). Sources keep the usual named imports.
 */
const BARRELS = [
  "effect",
  "@effect/cli",
  "@effect/platform",
  "@effect/platform-node",
  "@effect/sql",
  "@effect/experimental",
  "@effect/opentelemetry",
  "@effect/sql-sqlite-node"
]

/** name → [subpath, imported name or "*"], from the index's `export * as X from "./X.js"` lines. */
const barrelMap = (pkg) => {
  const index = fs.readFileSync(path.join(ROOT, "node_modules", pkg, "dist/esm/index.js"), "utf8")
  const map = new Map()
  for (const m of index.matchAll(/export \* as (\w+) from "\.\/([\w/]+)\.js"/g)) map.set(m[1], [`${pkg}/${m[2]}`, "*"])
  for (const m of index.matchAll(/export \{([^}]*)\} from "\.\/([\w/]+)\.js"/g)) {
    const names = m[1].replace(/\/\*[\s\S]*?\*\//g, "").split(",").map((n) => n.trim()).filter((n) => n !== "")
    for (const name of names) map.set(name, [`${pkg}/${m[2]}`, name])
  }
  return map
}

const IMPORT = new RegExp(
  `import\\s*\\{([^}]*)\\}\\s*from\\s*"(${BARRELS.map((b) => b.replace("/", "\\/")).join("|")})";?`,
  "g"
)

/** The import statement(s) replacing one named import from an index, on as many lines. */
const rewriteImport = (maps, statement, names, pkg) => {
  const map = maps.get(pkg) ?? maps.set(pkg, barrelMap(pkg)).get(pkg)
  const out = []
  for (const spec of names.split(",").map((n) => n.trim()).filter((n) => n !== "" && !n.startsWith("type "))) {
    const [name, local = name] = spec.split(/\s+as\s+/)
    const target = map.get(name)
    if (target === undefined) return { error: `${pkg} has no module ${name} in its index` }
    out.push(
      target[1] === "*"
        ? `import * as ${local} from "${target[0]}";`
        : `import { ${target[1]} as ${local} } from "${target[0]}";`
    )
  }
  // Same line count, so the source map still points at the right lines.
  return { text: out.join(" ") + "\n".repeat(statement.split("\n").length - 1) }
}

/**
 * undici as the program uses it: Agent (with the pools, clients and TLS connector behind it),
 * the request API every dispatcher carries, DecoratorHandler, buildConnector, the global
 * dispatcher and the error classes. undici's index loads all of undici — fetch, WebSocket,
 * EventSource, mocks, caches: 1 MiB, 43 % of all the code `daemon` loaded; this module exports
 * the same objects from the files that define them and, as the index does, attaches the
 * request API to Dispatcher.prototype. A name the program uses that is not here fails the
 * build (logOverride below), rather than being undefined at run time.
 */
const UNDICI = `
import Agent from "undici/lib/dispatcher/agent.js"
import Dispatcher from "undici/lib/dispatcher/dispatcher.js"
import api from "undici/lib/api/index.js"
import buildConnector from "undici/lib/core/connect.js"
import DecoratorHandler from "undici/lib/handler/decorator-handler.js"
import errors from "undici/lib/core/errors.js"
import { getGlobalDispatcher, setGlobalDispatcher } from "undici/lib/global.js"
Object.assign(Dispatcher.prototype, api)
export { Agent, Dispatcher, buildConnector, DecoratorHandler, errors, getGlobalDispatcher, setGlobalDispatcher }
export default { Agent, Dispatcher, buildConnector, DecoratorHandler, errors, getGlobalDispatcher, setGlobalDispatcher }
`

const undiciParts = {
  name: "undici-parts",
  setup(build) {
    build.onResolve({ filter: /^undici$/ }, () => ({ path: "undici", namespace: "undici-parts" }))
    build.onLoad(
      { filter: /.*/, namespace: "undici-parts" },
      () => ({ contents: UNDICI, resolveDir: ROOT, loader: "js" })
    )
  }
}

const barrelImports = {
  name: "barrel-imports",
  setup(build) {
    const maps = new Map()
    build.onLoad({ filter: /\/src\/.*\.ts$/ }, async (args) => {
      const source = await fs.promises.readFile(args.path, "utf8")
      const errors = []
      const contents = source.replace(IMPORT, (statement, names, pkg) => {
        const r = rewriteImport(maps, statement, names, pkg)
        if (r.error !== undefined) {
          errors.push({ text: r.error })
          return statement
        }
        return r.text
      })
      return { contents, loader: "ts", errors }
    })
  }
}

/** @type {import("esbuild").BuildOptions} */
export const options = {
  absWorkingDir: ROOT,
  entryPoints: { main: "src/main.ts" },
  outdir: OUT_DIR,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  entryNames: "[name]",
  chunkNames: "chunks/[name]-[hash]",
  // Whitespace and syntax only: names stay, so stack traces still name functions. Measured on
  // the daemon: 4 MiB less idle RSS (V8 keeps every module's source text) and a faster parse.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: "linked",
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
  plugins: [barrelImports, undiciParts],
  // An import of a name a module does not export is an error, not `undefined` at run time.
  logOverride: { "import-is-undefined": "error" },
  // Everything else is bundled. The SQLite native addon stays outside: it finds its compiled
  // .node file relative to its own package directory at run time (`bindings`), so it is loaded
  // from node_modules as installed (and built there by node-gyp). (ws's optional native
  // addons, bufferutil and utf-8-validate, are not installed; ws requires them inside a try,
  // which esbuild leaves as it is.)
  external: ["better-sqlite3"],
  // CommonJS packages in the bundle (undici, yaml, node-forge) call require() for Node's own
  // modules; ESM output has no require, so each chunk gets one.
  banner: {
    js:
      "import { createRequire as __felhomCreateRequire } from \"node:module\"; const require = __felhomCreateRequire(import.meta.url);"
  }
}

/** The crash tests' program: everything as above but the entry and where it goes. */
const crashOptions = { ...options, entryPoints: { crash: "test/support/crashEntry.ts" }, outdir: CRASH_OUT_DIR }

/** Bundles in memory: the output files and esbuild's metafile (what each chunk imports). */
export const bundle = () => esbuild.build({ ...options, write: false })

const writeAtomically = (file, contents) => {
  if (fs.existsSync(file)) {
    const old = fs.readFileSync(file)
    if (Buffer.compare(old, contents) === 0) return
  }
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, contents)
  fs.renameSync(tmp, file)
}

/** Files under `dir`, recursively, as absolute paths. */
const filesUnder = (dir) =>
  fs.existsSync(dir)
    ? fs.readdirSync(dir, { withFileTypes: true, recursive: true })
      .filter((e) => e.isFile())
      .map((e) => path.join(e.parentPath ?? e.path, e.name))
    : []

/**
 * Builds `outDirName` from `buildOptions`, and returns the metafile: esbuild's account of every
 * chunk's inputs and imports.
 */
const buildInto = async (buildOptions, outDirName, entryOut) => {
  const result = await esbuild.build({ ...buildOptions, write: false })
  const outDir = path.join(ROOT, outDirName)
  const entry = path.join(ROOT, entryOut)
  const written = new Set(result.outputFiles.map((f) => f.path))
  // Chunks before the entry that imports them.
  const ordered = [...result.outputFiles].sort((a, b) => Number(a.path === entry) - Number(b.path === entry))
  for (const file of ordered) writeAtomically(file.path, file.contents)
  const now = Date.now()
  for (const file of filesUnder(outDir)) {
    if (written.has(file)) continue
    try {
      if (now - fs.statSync(file).mtimeMs > PRUNE_AFTER_MS) fs.rmSync(file)
    } catch (error) {
      // ENOENT: a concurrent build pruned it first.
      if (error?.code !== "ENOENT") throw error
    }
  }
  for (const dir of fs.readdirSync(outDir, { withFileTypes: true }).filter((e) => e.isDirectory())) {
    const p = path.join(outDir, dir.name)
    if (filesUnder(p).length === 0) fs.rmSync(p, { recursive: true, force: true })
  }
  return result.metafile
}

/** Builds dist/, the program. */
export const build = () => buildInto(options, OUT_DIR, ENTRY_OUT)

/** Builds dist-test/, the crash tests' program. */
export const buildCrash = () => buildInto(crashOptions, CRASH_OUT_DIR, CRASH_ENTRY_OUT)

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = performance.now()
  await build()
  process.stdout.write(`built ${ENTRY_OUT} in ${(performance.now() - t0).toFixed(0)} ms\n`)
}
