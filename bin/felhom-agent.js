#!/usr/bin/env node
// The package's entry: the CLI bundled into dist/ by scripts/build.mjs (esbuild). `npm ci`
// builds it (the `prepare` script); after changing the sources, `npm run build` builds it again.
try {
  await import("../dist/main.js")
} catch (error) {
  const missing = error !== null && typeof error === "object" && error.code === "ERR_MODULE_NOT_FOUND" &&
    String(error.message).includes("dist/main.js")
  if (!missing) throw error
  process.stderr.write("felhom-agent: the program is not built; run `npm run build` in the package directory\n")
  process.exitCode = 1
}
