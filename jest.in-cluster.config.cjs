// In-cluster tests: the local cluster's node (kubelet + containerd), the Pepr controller image built
// here, and the module deployed by `npx pepr deploy`. One file at a time: the node is one per machine.
// Each file starts the control plane with the node it needs: no shared control plane.
const e2e = require("./jest.e2e.config.cjs");

/** @type {import("jest").Config} */
module.exports = {
  ...e2e,
  roots: ["<rootDir>/test/e2e/in-cluster"],
  testPathIgnorePatterns: ["/node_modules/"],
  globalSetup: undefined,
  globalTeardown: undefined,
  // a backstop only: each step has its own named deadline (deploy 300 s, pod Ready 120 s, ...),
  // and a test that chains several of them on a loaded machine must fail with that name
  testTimeout: 900_000,
};
