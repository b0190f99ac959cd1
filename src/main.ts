#!/usr/bin/env node
import { NodeContext } from "@effect/platform-node"
import { Effect } from "effect"
import { cli } from "./cli/root.js"
import { runCli } from "./cli/run.js"

runCli(cli(process.argv).pipe(Effect.provide(NodeContext.layer)))
