/**
 * `felhom-agent guests [--json]`: every guest of the cluster, as PVE's /cluster/resources sees
 * it. Read-only; a quick check that the URL, token and TLS trust are right.
 */
import { Console, Effect } from "effect"
import type { ClusterGuest } from "../domain/Cluster.js"
import { Pve } from "../pve/Pve.js"
import type { GuestsFlags } from "./commands/guests.js"
import { pveLayer } from "./connectionLayer.js"

const row = (g: ClusterGuest) => ({
  vmid: g.vmid,
  node: g.node,
  type: g.type,
  status: g.status,
  lock: g.lock ?? "",
  name: g.name ?? "",
  tags: g.tags ?? ""
})

const table = (rows: ReadonlyArray<ReturnType<typeof row>>): string => {
  const header = {
    vmid: "VMID",
    node: "NODE",
    type: "TYPE",
    status: "STATUS",
    lock: "LOCK",
    name: "NAME",
    tags: "TAGS"
  }
  const all = [header, ...rows.map((r) => ({ ...r, vmid: String(r.vmid) }))]
  const keys = Object.keys(header) as Array<keyof typeof header>
  const widths = keys.map((k) => Math.max(...all.map((r) => r[k].length)))
  return all.map((r) => keys.map((k, i) => r[k].padEnd(widths[i] ?? 0)).join("  ").trimEnd()).join("\n")
}

/** The body of `felhom-agent guests` (commands/guests.ts). */
export const guestsHandler = (flags: GuestsFlags) =>
  Effect.gen(function*() {
    const pve = yield* Pve
    const guests = yield* pve.guests
    const rows = [...guests].sort((a, b) => a.vmid - b.vmid).map(row)
    yield* Console.log(flags.json ? JSON.stringify(rows, null, 2) : table(rows))
  }).pipe(Effect.provide(pveLayer(flags)))
