/**
 * Questions about other processes of this host, asked without touching them. Its own folder on
 * the lowest floor (domain holds values; this reads the OS) because the state lock and the
 * CLI's launcher watch both ask, and the CLI's start path must not load the state code.
 */

/** Whether a process with this pid exists: signal 0 delivers nothing, it only checks. */
export const isProcessAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    // EPERM: it exists but belongs to another user.
    return typeof e === "object" && e !== null && "code" in e && e.code === "EPERM"
  }
}
