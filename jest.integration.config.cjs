// Integration tests: the store functions' real kubernetes-fluent-client requests against one local
// control plane (cluster/controlplane/), started once for all files by globalSetup. No watcher.
const unit = require("./jest.config.cjs");

/** @type {import("jest").Config} */
module.exports = {
  ...unit,
  roots: ["<rootDir>/test/integration"],
  setupFiles: ["<rootDir>/test/unit/env.ts"],
  globalSetup: "<rootDir>/test/integration/global-setup.ts",
  globalTeardown: "<rootDir>/test/integration/global-teardown.ts",
  testTimeout: 30_000,
};
