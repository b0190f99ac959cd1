/**
 * Property tests explore a new random seed on every developer run, and a fixed one in CI
 * (CI=true): a green CI run is then reproducible, and a counterexample found in a developer
 * run is printed with its seed so it can be replayed (FC_SEED=<seed> npm test) and kept as an
 * example test. FC_SEED always wins.
 */
import { FastCheck as fc } from "effect"

const fromEnv = process.env["FC_SEED"]
const seed = fromEnv !== undefined && fromEnv !== ""
  ? Number(fromEnv)
  : process.env["CI"] === "true"
  ? 20261125
  : undefined
if (seed !== undefined && Number.isInteger(seed)) fc.configureGlobal({ ...fc.readConfigureGlobal(), seed })
