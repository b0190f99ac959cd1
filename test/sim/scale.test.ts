import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { startSimulator } from "../../src/sim/Simulator.js"
import { dataRows, request } from "./client.js"

describe("scale (10,000 guests)", () => {
  it.scoped("generates 10,000 varied guests and lists them sorted by vmid as string", () =>
    Effect.gen(function*() {
      const s = yield* startSimulator({
        https: false,
        authFailureDelay: 0,
        guests: 10_000,
        nodes: ["pve1", "pve2", "pve3"],
        seed: 7
      })
      const r = yield* request(s, "/cluster/resources", {
        query: { type: "vm" },
        headers: { "accept-encoding": "gzip" }
      })
      const rows = dataRows(r)
      expect(rows.length).toBe(10_000)
      expect(rows[0]?.vmid).toBe(100)
      expect(rows[1]?.vmid).toBe(1000) // "1000" sorts before "101"
      expect(new Set(rows.map((x) => x.type))).toEqual(new Set(["qemu", "lxc"]))
      expect(new Set(rows.map((x) => x.node))).toEqual(new Set(["pve1", "pve2", "pve3"]))
      expect(rows[0]?.id).toBe(`${rows[0]?.type}/100`)
      const q = dataRows(yield* request(s, "/nodes/pve2/qemu"))
      expect(q.length).toBeGreaterThan(1000)
    }))

  it.scoped("generation is deterministic under the seed", () =>
    Effect.gen(function*() {
      const a = yield* startSimulator({ https: false, guests: 50, seed: 3 })
      const b = yield* startSimulator({ https: false, guests: 50, seed: 3 })
      const va = a.cluster.view(120)
      const vb = b.cluster.view(120)
      expect(va._tag === "Right" && vb._tag === "Right" && va.right.configText === vb.right.configText).toBe(true)
    }))
})
