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
import type { ConnectionFlags } from "./connection.js"

export class FileUnreadable extends Data.TaggedError("FileUnreadable")<{ readonly what: string; readonly path: string; readonly reason: string }> {
  override get message(): string {
    return `cannot read ${this.what} ${this.path}: ${this.reason}`
  }
}

const readFile = (what: string, path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path)).pipe(
    Effect.mapError((e) => new FileUnreadable({ what, path, reason: fileErrorReason(e) }))
  )

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
