/**
 * npm (11, both `npm run` and `npx`) does not pass SIGTERM or SIGINT on to the program it
 * started: npm exits, the shell it ran the program in dies with it, and the program is left
 * running, re-parented to init. So, started under npm (npm sets `npm_command` in what it
 * starts), the program watches the processes between itself and npm, npm included, and once one
 * of them is gone sends itself SIGTERM: the same clean stop a forwarded signal would have been.
 * Never above npm: `nohup npx … &` must outlive the shell that ran npm. Not at all without npm:
 * a daemon started by systemd or `nohup … &` outlives whoever started it.
 */
import * as fs from "node:fs"
import { isProcessAlive } from "../os/processes.js"

/** A bound on the walk up the tree (sh, tsx, nested npm runs). */
const MAX_DEPTH = 8

/** The parent of `pid` from /proc (Linux), or undefined where there is no /proc. */
const parentOf = (pid: number): number | undefined => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    // `pid (comm) state ppid …`; comm may itself hold spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
    return Number.isInteger(ppid) && ppid > 0 ? ppid : undefined
  } catch {
    return undefined
  }
}

/** Whether npm started `pid` (its environment has npm_command); false where it cannot be read. */
const startedByNpm = (pid: number): boolean => {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").some((v) => v.startsWith("npm_command="))
  } catch {
    return false
  }
}

/**
 * The launchers to watch: the parent first, then up the tree while the process was itself
 * started by npm; the first one that was not is npm, the last watched. Never init.
 */
export const launchers = (
  ppid: number,
  parent: (pid: number) => number | undefined = parentOf,
  npmStarted: (pid: number) => boolean = startedByNpm
): ReadonlyArray<number> => {
  const chain: Array<number> = []
  let pid: number | undefined = ppid
  while (pid !== undefined && pid > 1 && chain.length < MAX_DEPTH) {
    chain.push(pid)
    if (!npmStarted(pid)) break
    pid = parent(pid)
  }
  return chain
}

/** Starts the watch when `env` says npm started this process; checks once a second. */
export const stopWithLauncher = (env: NodeJS.ProcessEnv, intervalMillis = 1_000): void => {
  if (env["npm_command"] === undefined || env["npm_command"] === "") return
  const ppid = process.ppid
  const watched = launchers(ppid)
  // A signal that arrived ends the watch: the program is stopping already (a process group's
  // SIGTERM reaches npm and the program alike), and a second SIGTERM would kill it mid-stop.
  const end = () => {
    clearInterval(timer)
    process.off("SIGTERM", end)
    process.off("SIGINT", end)
  }
  const timer = setInterval(() => {
    if (process.ppid !== ppid || !watched.every(isProcessAlive)) {
      end()
      process.kill(process.pid, "SIGTERM")
    }
  }, intervalMillis)
  // Never the reason the process stays up.
  timer.unref()
  process.once("SIGTERM", end)
  process.once("SIGINT", end)
}
