// Unit tests run as CommonJS (ts-jest). The ES-module-only packages that pepr's CommonJS dist
// require()s are converted by test/esm-to-cjs.cjs; everything else in node_modules is untouched.
const esmOnlyPackages = [
  "kubernetes-fluent-client",
  "@kubernetes/client-node",
  "openid-client",
  "oauth4webapi",
  "jose",
  "jsonpath-plus",
  "rfc4648",
  "mutation-testing-metrics",
  "mutation-testing-report-schema",
];

// Pepr's TypeScript sources that the project imports (its PeprStore CRD and GVK: Pepr's package
// entry does not export them) are compiled by ts-jest like the project's own files.
const peprSources = ["pepr/src"];

/** @type {import("jest").Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test/unit"],
  testMatch: ["**/*.test.ts"],
  setupFiles: ["<rootDir>/test/unit/env.ts"],
  restoreMocks: true,
  transform: {
    "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/test/tsconfig.json" }],
    "^.+\\.m?js$": "<rootDir>/test/esm-to-cjs.cjs",
  },
  transformIgnorePatterns: [
    `/node_modules/(?!(${[...esmOnlyPackages, ...peprSources].join("|")})/)`,
  ],
};
