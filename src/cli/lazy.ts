/**
 * A command's body, loaded when the command runs. The command tree (names, options, help) is
 * built eagerly at every start; what a command does lives in handlers/, which the bundle
 * (scripts/build.mjs) splits into chunks of their own, so `--version`, `--help` and each
 * command read only the code they use: `plan` never loads the simulator, `daemon` never the
 * signing CLI.
 */
import { Effect } from "effect"

export const lazily = <M, A, E, R>(
  load: () => Promise<M>,
  run: (module: M) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => Effect.flatMap(Effect.promise(load), run)
