// End-to-end tests: a real kube-apiserver + etcd (cluster/controlplane/) and the Pepr watcher as a local
// Node process. Files run one at a time (--runInBand in package.json): Pepr's watcher port is fixed.
const unit = require("./jest.config.cjs");

/** @type {import("jest").Config} */
module.exports = {
  ...unit,
  roots: ["<rootDir>/test/e2e"],
  setupFiles: [],
  testTimeout: 180_000,
  slowTestThreshold: 60,
};
