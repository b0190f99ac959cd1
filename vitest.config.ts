import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/support/fastCheckSeed.ts"],
    // The CLI tests spawn the bundle (dist/main.js): built once per run, before any test.
    globalSetup: ["test/support/buildBundle.ts"],
    // Integration tests start simulators and child processes; 2-core CI machines need headroom.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } }
  }
})
