/**
 * npm (11, both `npm run` and `npx`) does not pass SIGTERM or SIGINT on to the program it
 * started: npm exits, the shell it ran the program in dies with it, and the program is left
 * running, re-parented to init. So, started under npm (npm sets `npm_command`), the program
 * watches the processes between itself and npm and, once one of them is gone, sends itself
 * SIGTERM: the same clean stop a forwarded signal would have been. Not otherwise: a daemon
 * started with `nohup … &` must outlive the shell that started it.
 */
import * as fs from "node:fs"
import { isProcessAlive } from "../os/processes.js"

/** How many launcher processes up the tree are watched (sh, tsx, npm and the like). */
const DEPTH = 4

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

/** The launchers above this process: its parent first, at most DEPTH, never init. */
export const launchers = (ppid: number, parent: (pid: number) => number | undefined = parentOf) => {
  const chain: Array<number> = []
  let pid: number | undefined = ppid
  while (pid !== undefined && pid > 1 && chain.length < DEPTH) {
    chain.push(pid)
    pid = parent(pid)
  }
  return chain
}

/** Starts the watch when `env` says npm started this process; checks once a second. */
export const stopWithLauncher = (env: NodeJS.ProcessEnv, intervalMillis = 1_000): void => {
  if (env["npm_command"] === undefined || env["npm_command"] === "") return
  const ppid = process.ppid
  const watched = launchers(ppid)
  const timer = setInterval(() => {
    if (process.ppid !== ppid || !watched.every(isProcessAlive)) {
      clearInterval(timer)
      process.kill(process.pid, "SIGTERM")
    }
  }, intervalMillis)
  // Never the reason the process stays up.
  timer.unref()
}
