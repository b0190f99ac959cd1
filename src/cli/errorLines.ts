/**
 * Every error a command prints is `felhom-agent: <what>` on one stderr line, with at most one
 * hint line. @effect/cli prints its own argument errors (as multi-line help documents, e.g.
 * `Expected to find option: '--pve-url'` once per missing option); this turns them into that
 * shape and names the environment variable an option can also come from.
 */

/** Options that may come from the environment instead (README "Connecting to PVE", "The daemon"). */
export const OPTION_ENV: Readonly<Record<string, string>> = {
  "--pve-url": "FELHOM_PVE_URL",
  "--token-file": "FELHOM_PVE_TOKEN_FILE",
  "--fingerprint": "FELHOM_PVE_FINGERPRINT",
  "--ca-file": "FELHOM_PVE_CA_FILE",
  "--state-dir": "FELHOM_STATE_DIR",
  "--signers": "FELHOM_SIGNERS_FILE",
  "--agent-id": "FELHOM_AGENT_ID",
  "--config": "FELHOM_CONFIG"
}

const ANSI = /\u001b\[[0-9;]*m/g

export const stripAnsi = (text: string): string => text.replace(ANSI, "")

/** The lines @effect/cli printed for an argument error, as our one line (+ one hint). */
export const argumentErrorLines = (printed: string): ReadonlyArray<string> => {
  const lines = stripAnsi(printed).split("\n").map((l) => l.trim()).filter((l) => l !== "")
  const missing = lines.flatMap((l) => /^Expected to find option: '([^']+)'$/.exec(l)?.[1] ?? [])
  if (missing.length > 0) {
    const fromEnv = missing.flatMap((o) => (OPTION_ENV[o] === undefined ? [] : [`${o} or ${OPTION_ENV[o]}`]))
    return [
      `felhom-agent: missing ${missing.join(", ")}`,
      fromEnv.length > 0 ? `  set ${fromEnv.join(", ")} (see --help)` : "  see --help"
    ]
  }
  const unknown = lines.map((l) => /^Received unknown argument: '([^']+)'$/.exec(l)?.[1]).find((a) => a !== undefined)
  if (unknown !== undefined) {
    return [`felhom-agent: unknown argument '${unknown}'`, "  see --help for this command's options"]
  }
  const [first, ...rest] = lines
  if (first === undefined) return ["felhom-agent: invalid arguments", "  see --help"]
  return [`felhom-agent: ${first}${rest.length > 0 ? ` (and ${rest.length} more)` : ""}`, "  see --help"]
}

/** Whether help may carry colour: stdout is a terminal, NO_COLOR is unset, TERM is not dumb. */
export const colourAllowed = (env: NodeJS.ProcessEnv, isTty: boolean): boolean =>
  isTty && (env["NO_COLOR"] ?? "") === "" && env["TERM"] !== "dumb"

/** The terminal's width, else COLUMNS, else 80 (help piped into a file or a pager). */
export const helpWidth = (env: NodeJS.ProcessEnv, columns: number | undefined): number => {
  const fromEnv = Number(env["COLUMNS"])
  const width = columns ?? (Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 80)
  return Math.max(40, Math.min(width, 200))
}

/** Lines @effect/cli adds under every option that say nothing about it. */
const BOILERPLATE = new Set([
  "A user-defined piece of text.",
  "A true or false value.",
  "An integer.",
  "This option can be set from environment variables.",
  "A file without a content."
])

/**
 * In the usage line @effect/cli writes an option that may be repeated zero or more times as
 * `--delete text...`, which reads as required; it is shown as `[--delete text]...`.
 */
const optionalRepeats = (usage: string): string =>
  usage.replace(/(^|\s)(--[a-z][a-z-]*(?: [^\s[\]]+(?: \| [^\s[\]]+)*)?)\.\.\./g, "$1[$2]...")

/** Word-wraps one line to `width`, continuing at its own indentation. */
const wrap = (line: string, width: number): ReadonlyArray<string> => {
  const plain = stripAnsi(line)
  if (plain.length <= width) return [line]
  const indent = /^\s*/.exec(plain)?.[0] ?? ""
  const out: Array<string> = []
  let current = indent
  for (const word of plain.slice(indent.length).split(/\s+/)) {
    if (current.trim() !== "" && current.length + 1 + word.length > width) {
      out.push(current)
      current = `${indent}${word}`
    } else current = current.trim() === "" ? `${indent}${word}` : `${current} ${word}`
  }
  if (current.trim() !== "") out.push(current)
  return out
}

/**
 * @effect/cli's help, fit for a terminal: no colour unless allowed, no boilerplate lines, "This
 * setting is optional." said once as "(optional)", blank-line runs collapsed, wrapped to `width`.
 */
export const formatHelp = (text: string, options: { readonly colour: boolean; readonly width: number }): string => {
  const lines = (options.colour ? text : stripAnsi(text)).split("\n")
  const out: Array<string> = []
  for (const line of lines) {
    const plain = stripAnsi(line).trim()
    if (BOILERPLATE.has(plain)) continue
    if (plain === "This setting is optional.") {
      out.push(`${/^\s*/.exec(line)?.[0] ?? ""}(optional)`)
      continue
    }
    if (plain === "" && (out.length === 0 || stripAnsi(out[out.length - 1] ?? "").trim() === "")) continue
    const shown = plain.startsWith("$ ") ? optionalRepeats(line) : line
    out.push(...(options.colour ? [shown] : wrap(shown, options.width)))
  }
  return out.join("\n").trimEnd()
}
