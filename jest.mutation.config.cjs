// The tests StrykerJS runs against each mutant (stryker.config.cjs): the unit tests and the
// integration tests in one Jest run. The integration control plane is started once, outside
// (test/integration/with-cluster.ts), not by each run's globalSetup. manifest.test.ts checks
// `npx pepr build`'s output, which would rebuild from the instrumented sources: left out.
const unit = require("./jest.config.cjs");
const integration = require("./jest.integration.config.cjs");

/** @type {import("jest").Config} */
module.exports = {
  ...integration,
  roots: [...unit.roots, ...integration.roots],
  testPathIgnorePatterns: ["/node_modules/", "/test/unit/manifest\\.test\\.ts$"],
};
