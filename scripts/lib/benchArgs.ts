/**
 * Command-line flags of the bench scripts: `--name value`, `--name=value` and bare `--flag`,
 * each also readable from an environment variable (the older BENCH_* spelling), flags first.
 */
import { fileURLToPath } from "node:url"

export interface Args {
  readonly string: (name: string, env?: string) => string | undefined
  readonly number: (name: string, fallback: number, env?: string) => number
  readonly numbers: (name: string, fallback: ReadonlyArray<number>, env?: string) => ReadonlyArray<number>
  readonly flag: (name: string, env?: string) => boolean
}

export const parseArgs = (argv: ReadonlyArray<string> = process.argv.slice(2)): Args => {
  const values = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? ""
    if (!arg.startsWith("--")) continue
    const eq = arg.indexOf("=")
    if (eq > 0) values.set(arg.slice(2, eq), arg.slice(eq + 1))
    else {
      const next = argv[i + 1]
      if (next !== undefined && !next.startsWith("--")) {
        values.set(arg.slice(2), next)
        i++
      } else values.set(arg.slice(2), "")
    }
  }
  const raw = (name: string, env?: string): string | undefined =>
    values.get(name) ?? (env === undefined ? undefined : process.env[env])
  const toNumber = (name: string, text: string): number => {
    const n = Number(text)
    if (text.trim() === "" || !Number.isFinite(n)) {
      console.error(`--${name} must be a number, got ${JSON.stringify(text)}`)
      process.exit(2)
    }
    return n
  }
  return {
    string: raw,
    number: (name, fallback, env) => {
      const text = raw(name, env)
      return text === undefined ? fallback : toNumber(name, text)
    },
    numbers: (name, fallback, env) => {
      const text = raw(name, env)
      return text === undefined ? fallback : text.split(",").map((part) => toNumber(name, part))
    },
    flag: (name, env) => {
      const text = raw(name, env)
      return text !== undefined && text !== "0" && text !== "false"
    }
  }
}

/** True when `moduleUrl` (import.meta.url) is the script node was started with. */
export const isMain = (moduleUrl: string): boolean =>
  process.argv[1] !== undefined && fileURLToPath(moduleUrl) === process.argv[1]
