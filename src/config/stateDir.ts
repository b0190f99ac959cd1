/**
 * Where state.db lives unless configured (daemon and CLI alike). A module of its own so the
 * CLI's `--state-dir` help can name it without evaluating the settings schemas.
 */
export const DEFAULT_STATE_DIR = "/var/lib/felhom-agent"
