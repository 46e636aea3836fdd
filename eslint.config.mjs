// Lint setup after Pepr 1.1.4's `pepr init` template (src/templates/eslint.config.mjs):
// eslint recommended + typescript-eslint recommended, type-aware, and no floating promises.
// The template reaches the same configs through FlatCompat; typescript-eslint's flat configs
// make that shim unnecessary.
import js from "@eslint/js";
import path from "node:path";
import { fileURLToPath } from "node:url";
import globals from "globals";
import tseslint from "typescript-eslint";

// `npx pepr build` and `npx pepr deploy` lint and format-check every *.ts under the working
// directory with this config (Pepr 1.1.4 src/cli/format: `lintFiles(["./**/*.ts"])`), which made
// that check 18 of a warm `npm start`'s 45 s. It only warns, and it is for the module: under
// Pepr's CLI it sees the module's files with the rules that need no type information (0.6 s, not
// 3.3 s); `npm run lint` (CI) checks every file with every rule.
const underPeprCli = /[/\\](\.bin[/\\]pepr|pepr[/\\]dist[/\\]cli\.js)$/.test(process.argv[1] ?? "");
const notTheModule = ["bench/**", "bin/**", "cluster/**", "scripts/**", "store/**", "test/**"];

export default tseslint.config(
  {
    ignores: [
      ...(underPeprCli ? notTheModule : []),
      "**/node_modules",
      "**/dist",
      "**/coverage",
      "cluster/controlplane/**",
      "build/**",
      ".stryker-tmp*/**",
      "reports/**",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: underPeprCli
        ? { sourceType: "module" }
        : {
            projectService: {
              allowDefaultProject: [
                "eslint.config.mjs",
                "jest.config.cjs",
                "jest.e2e.config.cjs",
                "jest.in-cluster.config.cjs",
                "jest.integration.config.cjs",
                "jest.mutation.config.cjs",
                "stryker.config.cjs",
                "stryker.all-tests.cjs",
                "test/esm-to-cjs.cjs",
                "cluster/exit-with-parent.cjs",
                "cluster/listen-loopback.cjs",
                "cluster/ports.cjs",
                "bin/*.cjs",
              ],
              // the config files above are 10 (default limit 8)
              maximumDefaultProjectFileMatchCount_THIS_WILL_SLOW_DOWN_LINTING: 16,
            },
            tsconfigRootDir: path.dirname(fileURLToPath(import.meta.url)),
            sourceType: "module",
          },
      globals: {
        ...globals.node,
      },
    },

    rules: underPeprCli ? {} : { "@typescript-eslint/no-floating-promises": "error" },
  },
  {
    // Jest's config and transform are CommonJS by necessity.
    files: ["**/*.cjs"],
    languageOptions: { sourceType: "commonjs" },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
