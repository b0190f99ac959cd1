import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/support/fastCheckSeed.ts"],
    // The CLI tests spawn the bundle (dist/main.js): built once per run, before any test.
    globalSetup: ["test/support/buildBundle.ts"],
    // Integration tests start simulators and child processes, and spend most of their time
    // waiting on them: three workers keep 2 cores busy (2 min 1–3 s for the suite, against
    // 2 min 17 s with two, measured on 2026-12-05) with the 60 s budgets left generous.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    poolOptions: { forks: { maxForks: 3, minForks: 1 } }
  }
})
