/**
 * The Verifier's default clock skew and longest accepted op lifetime. A module of its own so
 * the CLI's option defaults can name them without loading the Verifier.
 */
export const DEFAULT_SKEW_SECONDS = 60
export const DEFAULT_MAX_LIFETIME_SECONDS = 3_600
