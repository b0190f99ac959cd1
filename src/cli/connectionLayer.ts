/**
 * The PVE connection the flags of connection.ts describe, validated before anything connects:
 * the token file and CA file read, the URL and pin checked.
 */
import { FileSystem } from "@effect/platform"
import { Data, Effect, Layer, Option } from "effect"
import { fileErrorReason } from "../domain/fileError.js"
import { Pve } from "../pve/Pve.js"
import { makeConnectionSettings, PveConnection } from "../pve/PveConnection.js"
import { parsePveToken } from "../pve/PveToken.js"
import type { ActingConnectionFlags, ConnectionFlags } from "./connection.js"

export class FileUnreadable
  extends Data.TaggedError("FileUnreadable")<{ readonly what: string; readonly path: string; readonly reason: string }>
{
  override get message(): string {
    return `cannot read ${this.what} ${this.path}: ${this.reason}`
  }
}

const readFile = (what: string, path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path)).pipe(
    Effect.mapError((e) => new FileUnreadable({ what, path, reason: fileErrorReason(e) }))
  )

/** An acting command runs in this process (no daemon serves the directory) without URL or token. */
export class ConnectionMissing extends Data.TaggedError("ConnectionMissing")<{
  readonly stateDir: string
  readonly missing: ReadonlyArray<string>
}> {
  override get message(): string {
    return `no daemon serves ${this.stateDir}, so this command connects to PVE itself: missing ${
      this.missing.join(", ")
    }`
  }
}

/** The acting command's connection, now that it runs here: URL and token are required. */
export const requireConnection = (
  flags: ActingConnectionFlags,
  stateDir: string
): Effect.Effect<ConnectionFlags, ConnectionMissing> =>
  Option.match(Option.all({ pveUrl: flags.pveUrl, tokenFile: flags.tokenFile }), {
    onSome: ({ pveUrl, tokenFile }) => Effect.succeed({ ...flags, pveUrl, tokenFile }),
    onNone: () =>
      Effect.fail(
        new ConnectionMissing({
          stateDir,
          missing: [
            ...(Option.isNone(flags.pveUrl) ? ["--pve-url (or FELHOM_PVE_URL)"] : []),
            ...(Option.isNone(flags.tokenFile) ? ["--token-file (or FELHOM_PVE_TOKEN_FILE)"] : [])
          ]
        })
      )
  })

/** The `PveConnection` described by the flags, validated before anything connects. */
export const connectionLayer = (flags: ConnectionFlags) =>
  Layer.effect(
    PveConnection,
    Effect.gen(function*() {
      const token = yield* Effect.flatMap(readFile("token file", flags.tokenFile), parsePveToken)
      const caPem = yield* Option.match(flags.caFile, {
        onNone: () => Effect.succeed(undefined),
        onSome: (path) => readFile("CA file", path)
      })
      return yield* makeConnectionSettings({
        url: flags.pveUrl,
        token,
        fingerprint: Option.getOrUndefined(flags.fingerprint),
        caPem,
        insecureHttp: flags.insecureHttp
      })
    })
  )

export const pveLayer = (flags: ConnectionFlags) => Pve.layer.pipe(Layer.provide(connectionLayer(flags)))
