import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option, Queue } from "effect"
import { makeHubKey, signDesired, signersTrusting, startTestHub, unsignedDesired } from "../support/TestHub.js"
import { AGENT, buildStack, tempDb } from "./support.js"

const doc1 = { guests: { "101": { power: "running" } } }
const doc2 = { guests: { "101": { power: "stopped" }, "102": { config: { description: "db" } } } }
const nowS = () => Math.floor(Date.now() / 1000)

/** Whether a change event is queued (and takes it). */
const nextChange = (events: Queue.Dequeue<void>) => Effect.map(Queue.poll(events), Option.isSome)

describe("Hub desired provider against the test hub", () => {
  it.live("fetches, verifies and serves a signed document; 304 is neither re-verified nor a change", () =>
    Effect.gen(function*() {
      const hub = yield* startTestHub({ agent: AGENT })
      const file = yield* tempDb
      const s = yield* buildStack(hub, file, signersTrusting(hub.key))
      const events = yield* s.desired.subscribe
      expect(yield* s.provider.current).toEqual({ guests: {} })

      hub.setDesired(doc1, { revision: "r1" })
      yield* s.loop.pass
      expect(yield* s.provider.current).toEqual({ revision: "r1", ...doc1 })
      expect(yield* nextChange(events)).toBe(true)
      expect((yield* s.desired.inForce).source).toBe("hub")

      yield* s.loop.pass
      const last = hub.seen.filter((r) => r.url.endsWith("/desired")).at(-1)
      expect(last?.headers["if-none-match"]).toMatch(/^".+"$/)
      expect(yield* nextChange(events)).toBe(false)
      expect(yield* s.provider.current).toEqual({ revision: "r1", ...doc1 })
    }).pipe(Effect.scoped))

  it.live("unsigned, wrongly signed, capability-less, misaddressed and expired documents are refused; the last good stays", () =>
    Effect.gen(function*() {
      const hub = yield* startTestHub({ agent: AGENT })
      const other = makeHubKey()
      const file = yield* tempDb
      const s = yield* buildStack(hub, file, signersTrusting(hub.key))
      hub.setDesired(doc1, { revision: "r1" })
      yield* s.loop.pass
      const good = { revision: "r1", ...doc1 }
      const base = { agent: AGENT, revision: "r2", issued_at: nowS(), document: doc2 }
      const bad: ReadonlyArray<readonly [string, Uint8Array]> = [
        ["EnvelopeMalformed", unsignedDesired(base)],
        ["EnvelopeMalformed", new TextEncoder().encode("{\"not\":\"an envelope\"")],
        ["UnknownSigner", signDesired(base, [other])],
        ["SignatureInvalid", signDesired(base, [{ ...other, keyid: hub.key.keyid }])],
        ["DesiredWrongAudience", signDesired({ ...base, agent: "agent-other" }, [hub.key])],
        ["DesiredExpired", signDesired({ ...base, issued_at: nowS() - 7_200, expires_at: nowS() - 3_600 }, [hub.key])]
      ]
      for (const [tag, bytes] of bad) {
        hub.setDesiredRaw(bytes)
        yield* s.loop.pass
        expect(yield* s.provider.current).toEqual(good)
        const refused = yield* Effect.either(s.desired.offer(bytes, undefined))
        expect(Either.isLeft(refused) && refused.left._tag).toBe(tag)
      }
      // The refusals travel in the reports.
      const tags = hub.reports.flatMap((r) =>
        (r as { refusals: ReadonlyArray<{ tag: string }> }).refusals.map((x) => x.tag)
      )
      expect(tags).toEqual(bad.map(([tag]) => tag))
    }).pipe(Effect.scoped))

  it.live("a signer without the desired capability cannot set the desired state", () =>
    Effect.gen(function*() {
      const hub = yield* startTestHub({ agent: AGENT })
      const s = yield* buildStack(hub, yield* tempDb, signersTrusting(hub.key, ["power", "config", "snapshot"]))
      hub.setDesired(doc1)
      yield* s.loop.pass
      expect(yield* s.provider.current).toEqual({ guests: {} })
      expect((hub.reports[0] as { refusals: ReadonlyArray<{ tag: string }> }).refusals[0]?.tag).toBe(
        "DesiredCapabilityMissing"
      )
    }).pipe(Effect.scoped))

  it.live("the last good document survives a restart and is served while the hub is down", () =>
    Effect.gen(function*() {
      const hub = yield* startTestHub({ agent: AGENT })
      const file = yield* tempDb
      const signers = signersTrusting(hub.key)
      hub.setDesired(doc2, { revision: "r2" })
      yield* Effect.scoped(Effect.flatMap(buildStack(hub, file, signers), (s) => s.loop.pass))

      yield* hub.setMode({ _tag: "Refusing" })
      const s = yield* buildStack(hub, file, signers)
      expect(yield* s.provider.current).toEqual({ revision: "r2", ...doc2 })
      expect((yield* s.desired.inForce).source).toBe("stored")
      const failed = yield* Effect.either(s.loop.pass)
      expect(Either.isLeft(failed) && failed.left._tag).toBe("HubUnreachable")
      expect(yield* s.provider.current).toEqual({ revision: "r2", ...doc2 })

      // Back up: the stored ETag is sent, the hub answers 304, nothing changes.
      yield* hub.setMode({ _tag: "Up" })
      yield* s.loop.pass
      expect(hub.seen.at(-3)?.headers["if-none-match"]).toBeDefined()
      expect(yield* s.provider.current).toEqual({ revision: "r2", ...doc2 })
    }).pipe(Effect.scoped))

  it.live("a stored document whose signer was removed is not served after a restart", () =>
    Effect.gen(function*() {
      const hub = yield* startTestHub({ agent: AGENT })
      const file = yield* tempDb
      hub.setDesired(doc1)
      yield* Effect.scoped(Effect.flatMap(buildStack(hub, file, signersTrusting(hub.key)), (s) => s.loop.pass))
      yield* hub.setMode({ _tag: "Refusing" })
      const s = yield* buildStack(hub, file, signersTrusting(makeHubKey()))
      expect(yield* s.provider.current).toEqual({ guests: {} })
      expect((yield* s.desired.inForce).source).toBe("none")
    }).pipe(Effect.scoped))

  it.live("an older document than the last good is refused as a rollback", () =>
    Effect.gen(function*() {
      const hub = yield* startTestHub({ agent: AGENT })
      const s = yield* buildStack(hub, yield* tempDb, signersTrusting(hub.key))
      hub.setDesired(doc2, { revision: "r2", issued_at: nowS() })
      yield* s.loop.pass
      hub.setDesired(doc1, { revision: "r1", issued_at: nowS() - 600 })
      yield* s.loop.pass
      expect((yield* s.provider.current).revision).toBe("r2")
    }).pipe(Effect.scoped))
})
