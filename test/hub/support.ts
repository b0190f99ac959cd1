/**
 * Shared pieces of the hub tests: the agent id, a temp state db, and the live hub stack
 * (StateStore file → HubClient → HubDesired/DesiredProvider → HubLoop) over a TestHub.
 */
import { Context, Effect, Layer, Logger, Ref, type Scope } from "effect"
import { Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Signers } from "../../src/authz/Signers.js"
import { HubClient } from "../../src/hub/HubClient.js"
import { HubDesired, HubDesiredProvider } from "../../src/hub/HubDesiredProvider.js"
import { HubLoop, type HubLoopOptions } from "../../src/hub/HubLoop.js"
import type { OpOutcomeSummary } from "../../src/hub/protocol.js"
import { emptyReportInput } from "../../src/hub/protocol.js"
import { DesiredProvider } from "../../src/reconcile/DesiredProvider.js"
import { StateStore } from "../../src/state/StateStore.js"
import type { TestHub } from "../support/TestHub.js"

export const AGENT = "agent-pve1"

export const tempDb = Effect.acquireRelease(
  Effect.promise(() => fs.promises.mkdtemp(path.join(os.tmpdir(), "felhom-hub-"))),
  (dir) => Effect.promise(() => fs.promises.rm(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => path.join(dir, "state.db")))

export interface Stack {
  readonly loop: Context.Tag.Service<HubLoop>
  readonly desired: Context.Tag.Service<HubDesired>
  readonly provider: Context.Tag.Service<DesiredProvider>
  readonly handled: Ref.Ref<ReadonlyArray<unknown>>
}

/** Builds the hub side in the current scope; onOp records each envelope and answers "applied". */
export const buildStack = (
  hub: TestHub,
  filename: string,
  signers: Signers,
  overrides: Partial<HubLoopOptions> = {}
): Effect.Effect<Stack, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const handled = yield* Ref.make<ReadonlyArray<unknown>>([])
    const onOp = (envelope: unknown) =>
      Effect.as(
        Ref.update(handled, (h) => [...h, envelope]),
        {
          result: "applied",
          message: "ok"
        } satisfies OpOutcomeSummary
      )
    const layer = HubLoop.layer({ agentId: AGENT, onOp, report: Effect.succeed(emptyReportInput), ...overrides }).pipe(
      Layer.provideMerge(HubDesiredProvider.layer({ agentId: AGENT, signers })),
      Layer.provideMerge(HubClient.layer({
        url: new URL(hub.url),
        agentId: AGENT,
        token: Redacted.make(hub.token),
        requestTimeout: "5 seconds"
      })),
      Layer.provideMerge(StateStore.layer({ filename }))
    )
    const context = yield* Layer.build(layer)
    return {
      loop: Context.get(context, HubLoop),
      desired: Context.get(context, HubDesired),
      provider: Context.get(context, DesiredProvider),
      handled
    }
  })

/** Every log line (message + annotations) of `effect`, for secrecy assertions. */
export const captureLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const logger = Logger.make(({ annotations, cause, message }) => {
      lines.push(`${JSON.stringify(message)} ${JSON.stringify([...annotations])} ${String(cause)}`)
    })
    const result = yield* Effect.either(effect.pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger))))
    return { result, lines }
  })
