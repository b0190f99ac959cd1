/** Types of scripts/build.mjs, for the TypeScript that imports it (tests, benches, vitest config). */
import type { BuildOptions, BuildResult, Metafile, OutputFile } from "esbuild"

export declare const ROOT: string
export declare const OUT_DIR: string
export declare const ENTRY_OUT: string
export declare const CRASH_OUT_DIR: string
export declare const CRASH_ENTRY_OUT: string
export declare const options: BuildOptions
export declare const bundle: () => Promise<
  BuildResult<{ write: false; metafile: true }> & { outputFiles: Array<OutputFile>; metafile: Metafile }
>
export declare const build: () => Promise<Metafile>
export declare const buildCrash: () => Promise<Metafile>
