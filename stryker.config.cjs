// Mutation testing (`npm run test:mutation`, not part of CI): how many faults in capabilities/
// and store/ the unit and integration tests catch. Results and surviving mutants: docs/testing.md.
/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
module.exports = {
  mutate: ["capabilities/**/*.ts", "store/**/*.ts"],
  testRunner: "jest",
  jest: { configFile: "jest.mutation.config.cjs", enableFindRelatedTests: false },
  checkers: ["typescript"],
  tsconfigFile: "test/tsconfig.json",
  coverageAnalysis: "perTest",
  // 2 cores shared with other work: two test processes (the type-checker runs beside them)
  concurrency: 2,
  // each mutant run also talks to the control plane; leave room on a busy machine
  timeoutMS: 20_000,
  incremental: true,
  incrementalFile: "reports/stryker-incremental.json",
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: "reports/mutation/mutation.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  thresholds: { high: 90, low: 85, break: null },
  ignorePatterns: ["cluster/controlplane", "reports", "coverage"],
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
};
