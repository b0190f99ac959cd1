/**
 * qemu `sshkeys` as qemu-server `PVE::API2::Qemu` `$update_vm_api` checks them: the value is
 * URI-unescaped and every non-blank line goes through pve-common
 * `PVE::Tools::validate_ssh_public_keys`, i.e. `ssh-keygen -l -f` on that line. The simulator
 * does not run ssh-keygen; it checks what ssh-keygen needs to read a line as a public key: a
 * key type followed by base64 whose blob names that type and carries that type's fields.
 * Algorithms and curve points are not verified. Pure.
 */

const decodeBase64 = (text: string): Buffer | undefined => {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined
  const bytes = Buffer.from(text, "base64")
  return bytes.toString("base64") === text ? bytes : undefined
}

/** Reads the length-prefixed strings of an SSH wire-format blob; undefined when it does not split cleanly. */
const wireStrings = (blob: Buffer): Array<Buffer> | undefined => {
  const out: Array<Buffer> = []
  let at = 0
  while (at < blob.length) {
    if (at + 4 > blob.length) return undefined
    const length = blob.readUInt32BE(at)
    if (at + 4 + length > blob.length) return undefined
    out.push(blob.subarray(at + 4, at + 4 + length))
    at += 4 + length
  }
  return out
}

const CURVES: Readonly<Record<string, number>> = { nistp256: 65, nistp384: 97, nistp521: 133 }

/** The fields after the type string, per key type (RFC 4253, RFC 5656, RFC 8709, OpenSSH PROTOCOL.u2f). */
const fieldsFit = (type: string, fields: ReadonlyArray<Buffer>): boolean => {
  const [a, b, c, d] = fields
  if (type === "ssh-ed25519") return fields.length === 1 && a?.length === 32
  if (type === "sk-ssh-ed25519@openssh.com") return fields.length === 2 && a?.length === 32
  // ssh-keygen refuses RSA moduli under 1024 bits; the leading zero byte of a positive mpint does not count.
  if (type === "ssh-rsa") {
    return fields.length === 2 && a !== undefined && b !== undefined && (b.length - (b[0] === 0 ? 1 : 0)) * 8 >= 1024
  }
  if (type === "ssh-dss") return fields.length === 4 && [a, b, c, d].every((x) => x !== undefined && x.length > 0)
  const ecdsa = /^(sk-)?ecdsa-sha2-(nistp256|nistp384|nistp521)(@openssh\.com)?$/.exec(type)
  if (ecdsa === null) return false
  const curve = ecdsa[2] ?? ""
  const expected = ecdsa[1] === undefined ? 2 : 3
  return fields.length === expected && a?.toString("latin1") === curve && b?.length === CURVES[curve] && b?.[0] === 4
}

const KEY_TYPES =
  /^(ssh-ed25519|sk-ssh-ed25519@openssh\.com|ssh-rsa|ssh-dss|ecdsa-sha2-nistp(256|384|521)|sk-ecdsa-sha2-nistp256@openssh\.com)$/

/** The line starts with a key type and a blob of that type. */
const keyFirst = (line: string): boolean => {
  const [type = "", encoded = ""] = line.trim().split(/\s+/)
  const blob = KEY_TYPES.test(type) ? decodeBase64(encoded) : undefined
  const strings = blob === undefined ? undefined : wireStrings(blob)
  return strings !== undefined && strings[0]?.toString("latin1") === type && fieldsFit(type, strings.slice(1))
}

/** The line without its first word, where a double-quoted part does not end the word (authorized_keys options). */
const afterFirstWord = (line: string): string => {
  const text = line.trimStart()
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const ch = text.charAt(i)
    if (ch === "\\" && quoted) i++
    else if (ch === "\"") quoted = !quoted
    else if (!quoted && /\s/.test(ch)) return text.slice(i)
  }
  return ""
}

/** One line holds a public key: at its start, or after one word of options or host names. */
const lineHoldsKey = (line: string): boolean => keyFirst(line) || keyFirst(afterFirstWord(line))

/** Perl's `uri_unescape`: every `%XX` becomes that byte; anything else stays. */
const uriUnescape = (text: string): string =>
  text.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))

/** The die text of `validate_ssh_public_keys` for an `sshkeys` value, or undefined. */
export const sshKeysProblem = (value: string): string | undefined => {
  const lines = uriUnescape(value).split("\n")
  return lines.every((l) => /^\s*$/.test(l) || lineHoldsKey(l)) ? undefined : "SSH public key validation error"
}
