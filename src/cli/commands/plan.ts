/** `felhom-agent plan`: its options and help. What it does is ../plan.ts, loaded when it runs. */
import { Command, Options } from "@effect/cli"
import { connectionOptions } from "../connection.js"
import { lazily } from "../lazy.js"
import { jsonOption } from "../state.js"

export const desiredOption = Options.text("desired").pipe(
  Options.withDescription("desired-state document (JSON or YAML): { revision?, guests: { VMID: { power?, config? } } }")
)

/**
 * `--allow-keys`: config keys this run may write beyond the gate's benign defaults and the
 * configured allowlist (FELHOM_GATE_ALLOW_KEYS, or the daemon's `gate.allowKeys`).
 */
export const allowKeysOption = Options.text("allow-keys").pipe(
  Options.withDescription(
    "comma-separated config keys the gate lets this run write beyond description, tags, onboot, name, protection, startup (env FELHOM_GATE_ALLOW_KEYS)"
  ),
  Options.optional
)

export const planOptions = {
  ...connectionOptions,
  desired: desiredOption,
  json: jsonOption,
  allowKeys: allowKeysOption
}
export type PlanFlags = Command.Command.ParseConfig<typeof planOptions>

export const planCommand = Command.make(
  "plan",
  planOptions,
  (flags) => lazily(() => import("../plan.js"), (m) => m.planHandler(flags))
).pipe(
  Command.withDescription("preview the changes apply would make; exit 0 = none, 2 = changes, 1 = error")
)
