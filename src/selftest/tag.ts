/**
 * The tag that designates a guest as fair game for the selftest. A module of its own so the
 * CLI's help can name it without loading the selftest (and with it PVE and the journal).
 */
export const SELFTEST_TAG = "felhom-selftest"
