/**
 * qemu `sshkeys` as PVE checks them: URL-encoded (its schema format), then qemu-server
 * PVE::API2::Qemu `$update_vm_api` unescapes the value and pve-common
 * `PVE::Tools::validate_ssh_public_keys` runs `ssh-keygen -l -f` on every non-blank line.
 * ssh-keygen reads a line as a public key at its start, or after one word of authorized_keys
 * options or known_hosts names; it refuses a comment line. This module checks what ssh-keygen
 * needs to read a key: a type, then base64 whose blob names that type and carries its fields
 * (RFC 4253, RFC 5656, RFC 8709, OpenSSH PROTOCOL.u2f and PROTOCOL.certkeys). Curve points
 * are not verified. ssh-dss is refused: PVE 9 runs on OpenSSH 10, which no longer reads DSA
 * keys. Pure.
 */
import { makeFormat } from "./formats.js"

const decodeBase64 = (text: string): Uint8Array | undefined => {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined
  const binary = atob(text)
  return Uint8Array.from(binary, (c) => c.charCodeAt(0))
}

/** The length-prefixed strings of an SSH wire-format blob; undefined unless it splits cleanly. */
const wireStrings = (blob: Uint8Array): ReadonlyArray<Uint8Array> | undefined => {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength)
  const out: Array<Uint8Array> = []
  let at = 0
  while (at < blob.length) {
    if (at + 4 > blob.length) return undefined
    const length = view.getUint32(at)
    if (at + 4 + length > blob.length) return undefined
    out.push(blob.subarray(at + 4, at + 4 + length))
    at += 4 + length
  }
  return out
}

const latin1 = (bytes: Uint8Array | undefined): string => (bytes === undefined ? "" : String.fromCharCode(...bytes))

/** Bytes of an uncompressed point (0x04, X, Y) per curve. */
const POINT: Readonly<Record<string, number>> = { nistp256: 65, nistp384: 97, nistp521: 133 }

/** Whether the fields after the type string fit the type. */
const fieldsFit = (type: string, fields: ReadonlyArray<Uint8Array>): boolean => {
  const [a, b] = fields
  if (/-cert-v01@openssh\.com$/.test(type)) return fields.length > 2
  if (type === "ssh-ed25519") return fields.length === 1 && a?.length === 32
  if (type === "sk-ssh-ed25519@openssh.com") return fields.length === 2 && a?.length === 32
  // ssh-keygen refuses RSA moduli under 1024 bits; a positive mpint's leading zero byte does not count.
  if (type === "ssh-rsa") return fields.length === 2 && b !== undefined && (b.length - (b[0] === 0 ? 1 : 0)) * 8 >= 1024
  const ecdsa = /^(sk-)?ecdsa-sha2-(nistp256|nistp384|nistp521)(@openssh\.com)?$/.exec(type)
  if (ecdsa === null) return false
  const curve = ecdsa[2] ?? ""
  return fields.length === (ecdsa[1] === undefined ? 2 : 3) && latin1(a) === curve && b?.length === POINT[curve] &&
    b?.[0] === 4
}

const PLAIN_TYPES =
  "ssh-ed25519|sk-ssh-ed25519@openssh\\.com|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)|sk-ecdsa-sha2-nistp256@openssh\\.com"
const KEY_TYPE = new RegExp(
  `^(?:${PLAIN_TYPES}|(?:ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521))-cert-v01@openssh\\.com)$`
)

/** The line starts with a key type and a blob of that type. */
const keyFirst = (line: string): boolean => {
  const [type = "", encoded = ""] = line.trim().split(/\s+/)
  const blob = KEY_TYPE.test(type) ? decodeBase64(encoded) : undefined
  const strings = blob === undefined ? undefined : wireStrings(blob)
  return strings !== undefined && latin1(strings[0]) === type && fieldsFit(type, strings.slice(1))
}

/** The line without its first word; a double-quoted part (an option's value) does not end the word. */
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

/** Perl's `uri_unescape`: every `%XX` becomes that byte, anything else stays. */
const uriUnescape = (text: string): string =>
  text.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))

const URLENCODED = /^[-%a-zA-Z0-9_.!~*'()]*$/

export const sshPublicKeys = makeFormat("ssh-public-keys", (value) => {
  if (!URLENCODED.test(value)) return "must be URL-encoded (PVE stores it percent-encoded)"
  const lines = uriUnescape(value).split("\n")
  const bad = lines.findIndex((l) => !/^\s*$/.test(l) && !keyFirst(l) && !keyFirst(afterFirstWord(l)))
  return bad < 0 ? undefined : `line ${bad + 1} is not an SSH public key (PVE checks every line with ssh-keygen -l)`
})
