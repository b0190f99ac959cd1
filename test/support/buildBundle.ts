/**
 * vitest globalSetup: builds the bundle (dist/, scripts/build.mjs) once per run, so every test
 * that spawns the CLI runs the program as shipped, built from the sources under test. About
 * 2 s; a build beside another run's is safe (see build.mjs).
 */
import { build } from "../../scripts/build.mjs"

export default async function setup(): Promise<void> {
  await build()
}
