/**
 * The PVE API token, `USER@REALM!TOKENID=SECRET` (pve-http-server
 * `PVE::APIServer::Formatter::extract_auth_value`, pve-access-control
 * `PVE::AccessControl::verify_token`). The secret lives in a
 * `Redacted` from the moment it is read and is unwrapped only to build the Authorization
 * header; nothing here ever echoes it, not even in a parse error.
 */
import { Data, Effect, Redacted } from "effect"

/** PVE's token id: user `[^\s:/]+`, realm and token name `[A-Za-z][A-Za-z0-9.\-_]+`. */
const TOKEN_ID_RE = /^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+![A-Za-z][A-Za-z0-9.\-_]+$/

export interface PveToken {
  /** `user@realm!tokenid`: the identity PVE records as the task user. */
  readonly tokenId: string
  readonly secret: Redacted.Redacted<string>
}

export class PveTokenInvalid extends Data.TaggedError("PveTokenInvalid")<{ readonly reason: string }> {
  override get message(): string {
    return `invalid PVE API token: ${this.reason}`
  }
}

/**
 * Parses the token file's content. PVE splits at the last `=`; the id part must match PVE's
 * token id pattern. Surrounding whitespace and a `PVEAPIToken=` prefix are tolerated because
 * operators paste both.
 */
export const parsePveToken = (text: string): Effect.Effect<PveToken, PveTokenInvalid> =>
  Effect.suspend(() => {
    const trimmed = text.trim().replace(/^PVEAPIToken[= ]/, "")
    const at = trimmed.lastIndexOf("=")
    if (at < 0) {
      return Effect.fail(new PveTokenInvalid({ reason: "expected USER@REALM!TOKENID=SECRET (no '=' found)" }))
    }
    const tokenId = trimmed.slice(0, at)
    const secret = trimmed.slice(at + 1)
    if (!TOKEN_ID_RE.test(tokenId)) {
      // The id is not secret, but a malformed file might hold the secret in that part: do not echo it.
      return Effect.fail(
        new PveTokenInvalid({ reason: "the part before the last '=' is not a token id of the form USER@REALM!TOKENID" })
      )
    }
    if (secret.length === 0 || /\s/.test(secret)) {
      return Effect.fail(
        new PveTokenInvalid({ reason: `the secret of token ${tokenId} is empty or contains whitespace` })
      )
    }
    return Effect.succeed({ tokenId, secret: Redacted.make(secret) })
  })

/** The header value; the only place the secret is unwrapped. */
export const authorizationHeader = (token: PveToken): string =>
  `PVEAPIToken=${token.tokenId}=${Redacted.value(token.secret)}`
