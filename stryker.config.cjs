// Mutation testing (`npm run test:mutation`, not part of CI): how many faults in capabilities/
// and store/ the unit and integration tests catch. Results and surviving mutants: docs/testing.md.
/**
 * What names this run's incremental file and reports: "all", or the `--mutate` selection
 * (`--mutate store/read.ts` → "store-read.ts"), so a run on one file keeps its own results and
 * does not discard those of another.
 */
function selectionName(argv) {
  const at = argv.findIndex(a => a === "--mutate" || a === "-m");
  const selection = at >= 0 ? argv[at + 1] : undefined;
  return selection ? selection.replace(/[^A-Za-z0-9.]+/g, "-") : "all";
}
const selection = selectionName(process.argv);

/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
module.exports = {
  mutate: ["capabilities/**/*.ts", "store/**/*.ts"],
  testRunner: "jest",
  // Jest's --findRelatedTests: a mutant of a file runs only the test files that import it
  // (directly or not), instead of loading every test file for each mutant.
  jest: { configFile: "jest.mutation.config.cjs", enableFindRelatedTests: true },
  checkers: ["typescript"],
  tsconfigFile: "test/tsconfig.json",
  coverageAnalysis: "perTest",
  // 2 cores shared with other work: one test process (the type-checker runs beside it)
  concurrency: 1,
  // a mutant that runs this much longer than the tests did unmutated is counted as timed out
  // (usually a loop whose exit was mutated away)
  timeoutMS: 5_000,
  // Mutants of module-level constants need every test file for each of them (no per-test
  // coverage); on 2 shared cores that alone took most of an hour. They are left out of the score
  // and listed in docs/testing.md.
  ignoreStatic: true,
  incremental: true,
  incrementalFile: `reports/stryker-incremental-${selection}.json`,
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: `reports/mutation/${selection}.html` },
  jsonReporter: { fileName: `reports/mutation/${selection}.json` },
  thresholds: { high: 90, low: 85, break: null },
  // .stryker-tmp*: the sandboxes of another run going on beside this one (--tempDirName)
  ignorePatterns: ["cluster/controlplane", "reports", "coverage", ".stryker-tmp*"],
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
};
