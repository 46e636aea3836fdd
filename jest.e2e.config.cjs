// End-to-end tests on a real kube-apiserver + etcd (cluster/controlplane/) with the Pepr watcher as a
// local Node process. Files run one at a time (--runInBand in package.json): Pepr's watcher port is
// fixed. One control plane is shared by the files (globalSetup, as the integration tier does); each
// file starts from a cleaned one (test/e2e/shared-cluster.ts), and the tests that stop or restart
// a control plane, or need a bare one, start their own. The tests that need the node (kubelet +
// containerd) are test/e2e/in-cluster/, run by jest.in-cluster.config.cjs.
const unit = require("./jest.config.cjs");
const integration = require("./jest.integration.config.cjs");

/** @type {import("jest").Config} */
module.exports = {
  ...unit,
  roots: ["<rootDir>/test/e2e"],
  testPathIgnorePatterns: ["/node_modules/", "<rootDir>/test/e2e/in-cluster/"],
  setupFiles: [],
  globalSetup: integration.globalSetup,
  globalTeardown: integration.globalTeardown,
  testTimeout: 180_000,
  slowTestThreshold: 60,
};
