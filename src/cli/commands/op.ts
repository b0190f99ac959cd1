/**
 * `keys generate`, `op sign`, `op verify`, `op submit`: options and help. What they do is
 * ../op.ts and ../opSubmit.ts, loaded when one runs.
 */
import { Args, Command, Options } from "@effect/cli"
import { Config } from "effect"
import { OP_ACTION_KINDS } from "../../authz/opActionKinds.js"
import { DEFAULT_MAX_LIFETIME_SECONDS, DEFAULT_SKEW_SECONDS } from "../../authz/verifyDefaults.js"
import { actingConnectionOptions } from "../connection.js"
import { lazily } from "../lazy.js"
import { jsonOption, stateOptions, waitOption } from "../state.js"

export const generateOptions = {
  out: Options.directory("out").pipe(Options.withDescription("directory for signer.key (0600) and signer.pub"))
}
export type GenerateFlags = Command.Command.ParseConfig<typeof generateOptions>

const generate = Command.make(
  "generate",
  generateOptions,
  (flags) => lazily(() => import("../op.js"), (m) => m.generateHandler(flags))
).pipe(
  Command.withDescription("generate an ed25519 signing key pair and print its keyid")
)

export const keysCommand = Command.make("keys").pipe(
  Command.withDescription("signing keys for signed ops"),
  Command.withSubcommands([generate])
)

export const signOptions = {
  key: Options.file("key").pipe(Options.withDescription("PEM (pkcs8) ed25519 private key")),
  keyid: Options.text("keyid").pipe(Options.optional, Options.withDescription("keyid (default: derived from the key)")),
  payload: Options.file("payload").pipe(
    Options.optional,
    Options.withDescription("JSON payload file, signed byte for byte")
  ),
  opId: Options.text("op-id").pipe(Options.optional, Options.withDescription("op id (default: a random UUID)")),
  iss: Options.text("iss").pipe(Options.withDefault("felhom-cli"), Options.withDescription("issuer")),
  aud: Options.text("aud").pipe(Options.optional, Options.withDescription("agent id the op is for")),
  vmid: Options.integer("vmid").pipe(Options.optional, Options.withDescription("target guest")),
  action: Options.choice("action", OP_ACTION_KINDS).pipe(Options.optional),
  seq: Options.integer("seq").pipe(
    Options.optional,
    Options.withDescription("per-agent sequence number, above the last one")
  ),
  ttl: Options.integer("ttl").pipe(Options.withDefault(300), Options.withDescription("seconds until exp")),
  nbfIn: Options.integer("nbf-in").pipe(Options.optional, Options.withDescription("seconds until nbf")),
  set: Options.keyValueMap("set").pipe(Options.optional, Options.withDescription("set-config: key=value (repeatable)")),
  delete: Options.text("delete").pipe(
    Options.repeated,
    Options.withDescription("set-config: key to delete (repeatable)")
  ),
  snapshot: Options.text("snapshot").pipe(Options.optional, Options.withDescription("snapshot name")),
  description: Options.text("description").pipe(
    Options.optional,
    Options.withDescription("snapshot-create description")
  ),
  digest: Options.text("digest").pipe(Options.optional, Options.withDescription("precondition config digest")),
  timeout: Options.integer("timeout").pipe(Options.optional, Options.withDescription("shutdown timeout, seconds")),
  flag: Options.choice("flag", ["vmstate", "start", "force", "force-stop"] as const).pipe(
    Options.repeated,
    Options.withDescription("vmstate (snapshot-create), start (rollback), force (delete), force-stop (shutdown)")
  )
}
export type SignFlags = Command.Command.ParseConfig<typeof signOptions>

const sign = Command.make("sign", signOptions, (flags) => lazily(() => import("../op.js"), (m) => m.signHandler(flags)))
  .pipe(
    Command.withDescription("build (from flags or a JSON payload) and sign an op; prints the envelope JSON")
  )

export const verifyOptions = {
  file: Args.file({ name: "envelope" }),
  signers: Options.file("signers").pipe(Options.withDescription("signers file (JSON or YAML)")),
  agentId: Options.text("agent-id").pipe(Options.withDescription("this agent's id (the expected aud)")),
  skew: Options.integer("skew").pipe(Options.withDefault(DEFAULT_SKEW_SECONDS)),
  maxLifetime: Options.integer("max-lifetime").pipe(Options.withDefault(DEFAULT_MAX_LIFETIME_SECONDS))
}
export type VerifyFlags = Command.Command.ParseConfig<typeof verifyOptions>

const verify = Command.make(
  "verify",
  verifyOptions,
  (flags) => lazily(() => import("../op.js"), (m) => m.verifyHandler(flags))
).pipe(
  Command.withDescription("verify a signed op envelope as the agent would, explaining every check")
)

export const safetySnapshotOption = Options.boolean("safety-snapshot").pipe(
  Options.withDescription(
    "take a safety snapshot before a rollback, making it revertible (env FELHOM_GATE_SAFETY_SNAPSHOT)"
  )
)

export const submitOptions = {
  ...actingConnectionOptions,
  ...stateOptions,
  file: Args.file({ name: "envelope" }),
  signers: Options.text("signers").pipe(
    Options.withFallbackConfig(Config.string("FELHOM_SIGNERS_FILE")),
    Options.withDescription("signers file (JSON or YAML); without one every op is refused (env FELHOM_SIGNERS_FILE)"),
    Options.optional
  ),
  agentId: Options.text("agent-id").pipe(
    Options.withFallbackConfig(Config.string("FELHOM_AGENT_ID")),
    Options.withDescription("this agent's id, the only aud accepted; default: the host name (env FELHOM_AGENT_ID)"),
    Options.optional
  ),
  skew: Options.integer("skew").pipe(Options.withDefault(DEFAULT_SKEW_SECONDS)),
  maxLifetime: Options.integer("max-lifetime").pipe(Options.withDefault(DEFAULT_MAX_LIFETIME_SECONDS)),
  safetySnapshot: safetySnapshotOption,
  json: jsonOption,
  wait: waitOption
}
export type SubmitFlags = Command.Command.ParseConfig<typeof submitOptions>

const submit = Command.make(
  "submit",
  submitOptions,
  (flags) => lazily(() => import("../opSubmit.js"), (m) => m.submitHandler(flags))
).pipe(
  Command.withDescription("run a signed op envelope as the hub loop would (verify, admit, gate, engine)")
)

export const opCommand = Command.make("op").pipe(
  Command.withDescription("signed ops: sign, verify and submit envelopes"),
  Command.withSubcommands([sign, verify, submit])
)
