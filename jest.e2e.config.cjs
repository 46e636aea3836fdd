// End-to-end tests on a real kube-apiserver + etcd (cluster/controlplane/) with the Pepr watcher as a
// local Node process. `npm run test:e2e` (test/e2e/run-side-by-side.ts) runs the files in four
// Jest processes side by side, each in its own network namespace, so each has its own port 3000
// (Pepr's watcher port is fixed) and its own shared control plane; within a process the files
// run one at a time. That control plane (test/shared-cluster/'s globalSetup; not the integration
// tier's, which also starts its fault tests' control plane) is shared by the process's files; each file starts from a cleaned one (test/e2e/shared-cluster.ts), and the
// tests that stop or restart a control plane, or need a bare one, start their own. The tests
// that need the node (kubelet + containerd) are test/e2e/in-cluster/, run by
// jest.in-cluster.config.cjs.
const unit = require("./jest.config.cjs");

/** @type {import("jest").Config} */
module.exports = {
  ...unit,
  roots: ["<rootDir>/test/e2e"],
  testPathIgnorePatterns: ["/node_modules/", "<rootDir>/test/e2e/in-cluster/"],
  setupFiles: [],
  globalSetup: "<rootDir>/test/shared-cluster/global-setup.ts",
  globalTeardown: "<rootDir>/test/shared-cluster/global-teardown.ts",
  testTimeout: 180_000,
  slowTestThreshold: 60,
};
