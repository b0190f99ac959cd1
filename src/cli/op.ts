/**
 * `keys generate`, `op sign`, `op verify`: the operator's and hub developer's side of signed
 * ops. `op verify` runs the agent's own Verifier and explains every step in order, so a
 * refusal the agent logs can be reproduced offline. Their options are commands/op.ts; `op
 * submit` (opSubmit.ts) runs an envelope for real.
 */
import { FileSystem, Path } from "@effect/platform"
import { Clock, Console, Data, Effect, Either, Option } from "effect"
import { generateKeyPairSync, randomUUID } from "node:crypto"
import { keyIdOf, parsePrivateKey, signEnvelope } from "../authz/Envelope.js"
import { decodeOpPayload, OP_PAYLOAD_TYPE } from "../authz/OpPayload.js"
import { loadSigners } from "../authz/Signers.js"
import { verify, VERIFY_STEPS } from "../authz/Verifier.js"
import type { GenerateFlags, SignFlags, VerifyFlags } from "./commands/op.js"
import { type OpFlags, payloadFromFlags } from "./opFlags.js"
import { setExitCode } from "./run.js"

/** A CLI input problem (bad key file, invalid payload); one line, exit 1 (cli/run.ts). */
export class OpCliError extends Data.TaggedError("OpCliError")<{ readonly reason: string }> {
  override get message(): string {
    return this.reason
  }
}

const nowSeconds = Effect.map(Clock.currentTimeMillis, (ms) => Math.floor(ms / 1000))

// keys generate ---------------------------------------------------------------------------

/** The body of `felhom-agent keys generate`. */
export const generateHandler = ({ out }: GenerateFlags) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const { privateKey, publicKey } = generateKeyPairSync("ed25519")
    const keyid = keyIdOf(publicKey)
    const pub = String(publicKey.export({ format: "pem", type: "spki" }))
    yield* fs.makeDirectory(out, { recursive: true, mode: 0o700 })
    const keyFile = path.join(out, "signer.key")
    const pubFile = path.join(out, "signer.pub")
    // "wx": never overwrite a key that may already be trusted somewhere.
    yield* fs.writeFileString(keyFile, String(privateKey.export({ format: "pem", type: "pkcs8" })), {
      mode: 0o600,
      flag: "wx"
    })
    yield* fs.chmod(keyFile, 0o600)
    yield* fs.writeFileString(pubFile, pub, { mode: 0o644, flag: "wx" })
    const snippet = { signers: [{ keyid, publicKey: pub, capabilities: ["power", "config", "snapshot"] }] }
    yield* Console.log([
      `private key: ${keyFile} (keep it secret; 0600)`,
      `public key:  ${pubFile}`,
      `keyid:       ${keyid}`,
      "",
      "signers file entry (add \"irreversible\" only for keys allowed to roll back or delete snapshots):",
      JSON.stringify(snippet, null, 2)
    ].join("\n"))
  })

// op sign ---------------------------------------------------------------------------------

const issuesLine = (issues: ReadonlyArray<{ readonly path: string; readonly message: string }>) =>
  issues.map((i) => (i.path === "" ? i.message : `${i.path}: ${i.message}`)).join("; ")

const required = <A>(name: string, value: Option.Option<A>) =>
  Option.match(value, {
    onNone: () => Effect.fail(new OpCliError({ reason: `--${name} is required without --payload` })),
    onSome: Effect.succeed
  })

/** The bytes to sign: the payload file as is (after it decodes), or JSON built from flags. */
const payloadBytes = (flags: SignFlags) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    if (Option.isSome(flags.payload)) {
      const bytes = yield* fs.readFile(flags.payload.value)
      const json = yield* Effect.try({
        try: () => JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) as unknown,
        catch: () => new OpCliError({ reason: `${flags.payload.pipe(Option.getOrElse(() => ""))} is not UTF-8 JSON` })
      })
      const decoded = decodeOpPayload(json)
      if (Either.isLeft(decoded)) {
        return yield* new OpCliError({ reason: `payload is not a valid op: ${decoded.left.message}` })
      }
      return bytes
    }
    const opFlags: OpFlags = {
      opId: Option.getOrElse(flags.opId, () => randomUUID()),
      iss: flags.iss,
      aud: yield* required("aud", flags.aud),
      vmid: yield* required("vmid", flags.vmid),
      action: yield* required("action", flags.action),
      seq: yield* required("seq", flags.seq),
      ttl: flags.ttl,
      nbfIn: flags.nbfIn,
      set: flags.set,
      delete: flags.delete,
      snapshot: flags.snapshot,
      description: flags.description,
      digest: flags.digest,
      flag: flags.flag,
      timeout: flags.timeout
    }
    const payload = payloadFromFlags(opFlags, yield* nowSeconds)
    if (Either.isLeft(payload)) return yield* new OpCliError({ reason: `invalid op: ${issuesLine(payload.left)}` })
    return new TextEncoder().encode(JSON.stringify(payload.right))
  })

/** The body of `felhom-agent op sign`. */
export const signHandler = (flags: SignFlags) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const pem = yield* fs.readFileString(flags.key)
    const privateKey = parsePrivateKey(pem)
    if (Either.isLeft(privateKey)) return yield* new OpCliError({ reason: `${flags.key}: ${privateKey.left}` })
    const keyid = Option.getOrElse(flags.keyid, () => keyIdOf(privateKey.right))
    const bytes = yield* payloadBytes(flags)
    yield* Console.log(JSON.stringify(signEnvelope(OP_PAYLOAD_TYPE, bytes, [{ keyid, privateKey: privateKey.right }])))
  })

// op verify -------------------------------------------------------------------------------

/** The body of `felhom-agent op verify`. */
export const verifyHandler = (flags: VerifyFlags) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const bytes = yield* fs.readFile(flags.file)
    const signers = yield* loadSigners(flags.signers)
    const result = yield* Effect.either(verify(bytes, { ...flags, signers }))
    const failed = Either.isLeft(result) ? result.left : undefined
    const failedAt = failed === undefined
      ? VERIFY_STEPS.length
      : VERIFY_STEPS.findIndex((s) => (s.refusals as ReadonlyArray<string>).includes(failed._tag))
    const lines = VERIFY_STEPS.slice(0, failedAt).map((s) => `✓ ${s.step}`)
    if (failed !== undefined) {
      lines.push(`✗ ${VERIFY_STEPS[failedAt]?.step ?? "verify"}: ${failed._tag}: ${failed.message}`)
      yield* Console.log(lines.join("\n"))
      return yield* setExitCode(1)
    }
    if (Either.isRight(result)) {
      const op = result.right.op
      lines.push(
        `· replay: not checked here (the agent admits op ${op.op_id} with seq ${op.seq} once, atomically)`,
        `verified: ${op.action.kind} on ${op.target.vmid}, signed by ${result.right.keyid}`
      )
    }
    yield* Console.log(lines.join("\n"))
  })
