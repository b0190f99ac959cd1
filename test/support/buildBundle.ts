/**
 * vitest globalSetup: builds the bundle (dist/, scripts/build.mjs) once per run, so every test
 * that spawns the CLI runs the program as shipped, built from the sources under test; and beside
 * it the crash tests' program (dist-test/, the same CLI able to pause at an engine phase). About
 * 2 s for both, built at once; a build beside another run's is safe (see build.mjs).
 */
import { build, buildCrash } from "../../scripts/build.mjs"

export default async function setup(): Promise<void> {
  await Promise.all([build(), buildCrash()])
}
