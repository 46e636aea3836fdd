// stryker.config.cjs with ignoreStatic off: a static mutant (module-level constants), or a
// "hybrid" one that a test also reaches by re-loading its file (jest.isolateModulesAsync), runs
// against every related test instead of being ignored or run only against the re-loading tests.
// `npm run test:mutation -- stryker.all-tests.cjs --mutate store/contract.ts:16-42`
module.exports = { ...require("./stryker.config.cjs"), ignoreStatic: false };
