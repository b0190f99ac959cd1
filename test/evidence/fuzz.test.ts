/**
 * Short fuzz run (the long run is `npm run fuzz`): about 1,600 cases over
 * signed envelopes, desired-state documents, config documents and PVE responses. No exception,
 * no defect, no accepted forgery, and every rejection a tagged error with a message.
 */
import { describe, expect, it } from "vitest"
import {
  fuzzDesired,
  fuzzEnvelopes,
  fuzzPveClient,
  fuzzPveDecoders,
  fuzzSettings
} from "../../scripts/lib/fuzzTargets.js"

describe("fuzz (short)", () => {
  it("signed envelopes: random and mutated valid ones; no forgery is accepted, every refusal is typed", () => {
    const r = fuzzEnvelopes(600)
    expect(r.problems).toEqual([])
    // Most cases must be refusals (549–576 of 600 over 40 seeds); what is accepted is a valid
    // envelope a mutation left intact, which `problems` has already checked.
    expect(r.rejected).toBeGreaterThan(500)
    expect(r.byTag["SignatureInvalid"] ?? 0).toBeGreaterThan(0)
  })
  it("desired-state documents decode or fail with a named ParseError", () => {
    const r = fuzzDesired(400)
    expect(r.problems).toEqual([])
    expect(r.cases).toBe(400)
  })
  it("config documents decode or fail with ConfigInvalid naming each path", () => {
    const r = fuzzSettings(300)
    expect(r.problems).toEqual([])
    expect(r.byTag["ConfigInvalid"] ?? 0).toBeGreaterThan(0)
  })
  it("PVE response decoders never throw on random bodies", () => {
    const r = fuzzPveDecoders(300)
    expect(r.problems).toEqual([])
  })
  it("the real PVE client turns random HTTP answers into values or typed PveErrors", async () => {
    const r = await fuzzPveClient(60)
    expect(r.problems).toEqual([])
    expect(r.cases).toBe(60)
    // Not all transport failures: the client must really have decoded some answers.
    expect(r.accepted + (r.rejected - (r.byTag["PveTransport"] ?? 0))).toBeGreaterThan(10)
  }, 60_000)
})
