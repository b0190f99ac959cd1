/**
 * The tag that designates a guest as fair game for the selftest, and how a guest's tags are
 * read for it. A module of its own so the CLI's help can name it without loading the selftest
 * (and with it PVE and the journal).
 */
export const SELFTEST_TAG = "felhom-selftest"

/**
 * PVE stores tags `;`-separated but accepts `,` and spaces too (pve-common
 * `PVE::ParseUtils::split_list`); case-insensitive.
 */
export const hasSelftestTag = (tags: string | undefined): boolean =>
  (tags ?? "").split(/[;,\s]+/).some((t) => t.toLowerCase() === SELFTEST_TAG)
