/**
 * ESLint, as the Effect repositories use it: the code is formatted by dprint through
 * `@effect/dprint` with Effect's own settings (it also sorts imports), so a diff is never about
 * layout. Beyond that only rules that guard something this project relies on. Unused names are
 * tsc's job (noUnusedLocals, noUnusedParameters); eslint's and typescript-eslint's recommended
 * sets are left out: on this code they flagged only intended control characters in regular
 * expressions (PVE's value formats) and `{}` types, which Effect's config turns off too.
 *
 * `@effect/no-import-from-barrel-package` stays off: src/ imports `from "effect"` by design and
 * the build rewrites those imports to the modules themselves (scripts/build.mjs).
 */
import effect from "@effect/eslint-plugin"
import tseslint from "typescript-eslint"

export default [
  { ignores: ["dist/", "dist-test/", "coverage/", "node_modules/"] },
  // A directive for a rule that is not enabled, or no longer fires, only misleads.
  { linterOptions: { reportUnusedDisableDirectives: "error" } },
  {
    files: ["{src,test,scripts}/**/*.{ts,mts,mjs}"],
    languageOptions: {
      parser: tseslint.parser,
      ecmaVersion: "latest",
      sourceType: "module"
    },
    plugins: {
      "@effect": effect,
      "@typescript-eslint": tseslint.plugin
    },
    rules: {
      "@effect/dprint": [
        "error",
        {
          config: {
            indentWidth: 2,
            lineWidth: 120,
            semiColons: "asi",
            quoteStyle: "alwaysDouble",
            trailingCommas: "never",
            operatorPosition: "maintain",
            "arrowFunction.useParentheses": "force"
          }
        }
      ],
      // No `any`: `unknown` and a Schema decode say what was checked.
      "@typescript-eslint/no-explicit-any": "error",
      // An error, not Effect's warning: `eslint .` in `npm test` fails only on errors.
      "@typescript-eslint/consistent-type-imports": "error",
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["@effect/schema", "@effect/schema/*"],
              message: "@effect/schema is retired: Schema lives in `effect` (import { Schema } from \"effect\")."
            }
          ]
        }
      ]
    }
  }
]
