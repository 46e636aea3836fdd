// Integration tests: the store functions' real kubernetes-fluent-client requests against one local
// control plane (cluster/controlplane/), started once for all files by globalSetup
// (test/shared-cluster/, shared with the e2e tier's config). No watcher.
const unit = require("./jest.config.cjs");

/** @type {import("jest").Config} */
module.exports = {
  ...unit,
  roots: ["<rootDir>/test/integration"],
  setupFiles: ["<rootDir>/test/unit/env.ts"],
  // the shared control plane (test/shared-cluster/) and the fault tests' own (./start-fault-cluster.ts)
  globalSetup: "<rootDir>/test/integration/global-setup.ts",
  globalTeardown: "<rootDir>/test/integration/global-teardown.ts",
  testTimeout: 30_000,
  // store-watch-faults.test.ts spends most of its ~30 s waiting on its own control plane: it runs
  // beside the other files (Jest's default on 2 cores is one worker, all files in turn).
  maxWorkers: 2,
};
