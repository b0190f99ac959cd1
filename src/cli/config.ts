/**
 * `felhom-agent config check [--config FILE] [--json]`: validates the configuration exactly as
 * the daemon will read it (file, then `FELHOM_*`, then secret files) and prints the effective
 * settings. Secrets are shown only as where they came from.
 */
import { Console, Effect, Option, Schema } from "effect"
import * as Yaml from "yaml"
import { load } from "../config/AgentConfig.js"
import { Settings } from "../config/settings.js"
import type { CheckFlags } from "./commands/config.js"

/** The body of `felhom-agent config check` (commands/config.ts). */
export const checkHandler = ({ config, json }: CheckFlags) =>
  Effect.gen(function*() {
    const loaded = yield* load(config)
    const effective = {
      settings: Schema.encodeSync(Settings)(loaded.settings),
      secrets: {
        ...Object.fromEntries(Object.entries(loaded.secretSources).map(([k, v]) => [k, `<redacted> (from ${v})`])),
        "pve token id": loaded.pveToken.tokenId
      }
    }
    yield* Console.log(json ? JSON.stringify(effective, null, 2) : Yaml.stringify(effective).trimEnd())
    if (Option.isNone(loaded.hubToken) && loaded.settings.hub !== undefined) {
      yield* Console.error("warning: hub is configured but no hub token was found")
    }
  })
