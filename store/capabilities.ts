// What this package knows about its own Pepr module beyond the store contract (./contract.ts):
// its capability names.

/**
 * The names of the module's capabilities (capabilities/*.ts), used to split store keys exactly.
 * Written out rather than imported so that reading the store does not load Pepr; a unit test
 * checks it against the capabilities `pepr.ts` registers.
 */
export const MODULE_CAPABILITIES: readonly string[] = ["hello-pepr-store-resources"];
