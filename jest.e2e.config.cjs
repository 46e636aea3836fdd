// End-to-end tests on a real kube-apiserver + etcd (cluster/controlplane/) with the Pepr watcher as a
// local Node process. Files run one at a time (--runInBand in package.json): Pepr's watcher port is
// fixed. The tests that need the node (kubelet + containerd) are test/e2e/in-cluster/, run by
// jest.in-cluster.config.cjs.
const unit = require("./jest.config.cjs");

/** @type {import("jest").Config} */
module.exports = {
  ...unit,
  roots: ["<rootDir>/test/e2e"],
  testPathIgnorePatterns: ["/node_modules/", "<rootDir>/test/e2e/in-cluster/"],
  setupFiles: [],
  testTimeout: 180_000,
  slowTestThreshold: 60,
};
