/**
 * HubLink: what the daemon itself uses of the hub loop — run it, ask how it fares — as a tag of
 * the daemon's own. The hub's code (client, loop, desired provider: src/hub) is wired in
 * hubLayers.ts, which the daemon loads with `import()` only when `desired.source` is "hub"; a
 * daemon that reads a file or nothing never loads it (test/cli/bundle.process.test.ts). Present in the
 * daemon's context exactly when the hub is configured.
 */
import { Context, type Effect } from "effect"
import type { HubLoopStatus } from "../hub/HubLoop.js"

export interface HubLinkShape {
  /** Hub passes forever, interval or backoff between them; never fails. */
  readonly run: Effect.Effect<never>
  readonly status: Effect.Effect<HubLoopStatus>
}

export class HubLink extends Context.Tag("felhom/HubLink")<HubLink, HubLinkShape>() {}
