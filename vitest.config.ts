import { defineConfig } from "vitest/config"

/**
 * Two projects. `unit` runs in-process: the CLI and the daemon as `main` runs them
 * (test/support/cliInProcess.ts), the simulator over real HTTP on loopback. `process` holds what
 * only a real process shows (`*.process.test.ts`): the shipped bundle, signals, pipes, kill -9,
 * sd_notify, the README run word for word, external tools; it spawns the bundle, built once
 * per run before any test by its globalSetup.
 */
const shared = {
  setupFiles: ["test/support/fastCheckSeed.ts"],
  testTimeout: 60_000,
  hookTimeout: 60_000
}

export default defineConfig({
  test: {
    // Integration tests start simulators and child processes, and spend most of their time
    // waiting on them: three workers keep 2 cores busy (measured on 2026-12-05) with the 60 s
    // budgets left generous.
    pool: "forks",
    poolOptions: { forks: { maxForks: 3, minForks: 1 } },
    projects: [
      {
        test: {
          ...shared,
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: ["test/**/*.process.test.ts"]
        }
      },
      {
        test: {
          ...shared,
          name: "process",
          include: ["test/**/*.process.test.ts"],
          globalSetup: ["test/support/buildBundle.ts"]
        }
      }
    ]
  }
})
