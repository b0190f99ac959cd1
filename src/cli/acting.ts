/**
 * How the commands that change state run (`apply`, `revert`, `op submit`, `selftest`): through
 * the running daemon when one serves the state directory (it is then the single writer), else
 * in this process as the directory's one writer — its lock first, then start-up recovery, then
 * the request. Either way the command prints the same output and exits with the same code.
 */
import { Console, Effect, Layer, Option } from "effect"
import { CoreLive } from "../app/Agent.js"
import type { CommandOutput } from "../app/requests.js"
import { StoresLive } from "../app/Stores.js"
import type { ControlRequest } from "../daemon/controlProtocol.js"
import { gatePolicyConfig } from "../gate/Gate.js"
import { DesiredProvider } from "../reconcile/DesiredProvider.js"
import { nodeScopeConfig } from "../reconcile/NodeScope.js"
import type { ActingConnectionFlags } from "./connection.js"
import { connectionLayer, requireConnection } from "./connectionLayer.js"
import { askDaemon } from "./control.js"
import { setExitCode } from "./run.js"

/**
 * This process as the state directory's writer: the lock (taken first), state.db, the PVE
 * connection, and the agent's core with the gate policy and node scope of the environment
 * (FELHOM_GATE_*, FELHOM_SCOPE, FELHOM_NODE). A missing URL or token is refused before the
 * lock is taken, so `--wait` never waits only to be told so.
 */
export const writerLayer = (
  flags: ActingConnectionFlags,
  options: { readonly stateDir: string; readonly command: string; readonly wait: boolean }
) =>
  Layer.unwrapEffect(Effect.map(requireConnection(flags, options.stateDir), (connection) =>
    Layer.unwrapEffect(
      Effect.map(Effect.all([gatePolicyConfig, nodeScopeConfig]), ([gate, scope]) => CoreLive({ gate, scope }))
    ).pipe(
      Layer.provideMerge(connectionLayer(connection)),
      Layer.provideMerge(
        StoresLive({ stateDir: options.stateDir, writer: { command: options.command, wait: options.wait } })
      ),
      // Acting commands run a document they were handed (Reconciler.runWith), never a provider's.
      Layer.provide(DesiredProvider.Empty)
    )))

/** Asks the daemon of `stateDir`; runs `local` in this process when none runs. Prints the output. */
export const runActing = <E, R, E2 = never, R2 = never>(options: {
  readonly stateDir: string
  readonly json: boolean
  readonly request: ControlRequest
  readonly local: Effect.Effect<CommandOutput, E, R>
  /** Where the output goes besides stdout (selftest's --report). */
  readonly alsoWrite?: (output: CommandOutput) => Effect.Effect<void, E2, R2>
}) =>
  Effect.gen(function*() {
    const remote = yield* askDaemon(options.stateDir, options.request)
    const output = Option.isSome(remote) ? remote.value : yield* options.local
    if (options.alsoWrite !== undefined) yield* options.alsoWrite(output)
    yield* Console.log(options.json ? JSON.stringify(output.json, null, 2) : output.text)
    if (output.exitCode !== 0 && output.error !== undefined) yield* Console.error(`felhom-agent: ${output.error}`)
    yield* setExitCode(output.exitCode)
  })
