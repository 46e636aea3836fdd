// The store contract: where and how Pepr 1.1.4 keeps a module's Store on the cluster, stated
// once. The capability, store/, cluster/, the tests and the benchmark import these names.
//
// Pepr's package entry (node_modules/pepr/dist/lib.d.ts) exports none of these facts, so they are
// copied here from its sources, each naming the file it comes from; test/unit/contract.test.ts
// reads the installed node_modules/pepr/src and fails when a copy no longer matches. The one fact
// Pepr does export from a module, its PeprStore CRD (src/lib/assets/store.ts `peprStoreCRD`), is
// imported from Pepr where it is applied (cluster/local-watcher.ts), not copied.
//
// No imports but Node's: the capability bundles this file (`pepr build`), and store/ runs it
// without loading Pepr.
import { readFileSync } from "node:fs";
import path from "node:path";

/** This package's name (package.json `name`), also the name of its CLI. */
export const PACKAGE_NAME = "hello-pepr-store-resources";

/** Namespace of every PeprStore (controller/store.ts `namespace`). */
export const STORE_NAMESPACE = "pepr-system";

/** The group, version, kind and plural of the PeprStore kind (lib/k8s.ts `peprStoreGVK`). */
export const PEPR_STORE_GVK = {
  group: "pepr.dev",
  version: "v1",
  kind: "PeprStore",
  plural: "peprstores",
} as const;

/** `<plural>.<group>`: the CRD's name and the resource kubectl and RBAC name. */
export const PEPR_STORE_RESOURCE = `${PEPR_STORE_GVK.plural}.${PEPR_STORE_GVK.group}`;

/** Key Pepr puts in a new store: "JSON Patch will die if the data is empty" (controller/store.ts). */
export const PLACEHOLDER_KEY = "__pepr_do_not_delete__";
/** The value of {@link PLACEHOLDER_KEY}. */
export const PLACEHOLDER_VALUE = "k-thx-bye";
/** A new store's whole `data`, and what is left when every key is removed. */
export const PLACEHOLDER: Readonly<Record<string, string>> = {
  [PLACEHOLDER_KEY]: PLACEHOLDER_VALUE,
};

/** Label holding `Date.now()` of Pepr's last patch to the store (controller/storeCache.ts updateCacheID). */
export const CACHE_ID_LABEL = "pepr.dev-cacheID";

/** What separates the capability name from the key (core/storage.ts STORE_VERSION_PREFIX "v2"). */
export const V2_SEPARATOR = "-v2-";

/**
 * The prefix of a capability's keys in the CR: its key `k` is `<capability>-v2-k`
 * (controller/store.ts and core/storage.ts v2StoreKey).
 *
 * @param capability - the capability's name
 * @returns `<capability>-v2-`
 */
export function keyPrefix(capability: string): string {
  return `${capability}${V2_SEPARATOR}`;
}

/**
 * The name of a module's PeprStore (controller/index.ts `pepr-${config.uuid}-store`).
 *
 * @param uuid - the module's uuid (default {@link moduleUUID}: package.json `pepr.uuid`)
 * @returns `pepr-<uuid>-store`
 */
export function storeName(uuid = moduleUUID()): string {
  return `pepr-${uuid}-store`;
}

/**
 * The name of the PeprStore Pepr keeps a module's schedules in (controller/index.ts
 * `pepr-${config.uuid}-schedule`); the watcher creates it at start-up like the store.
 *
 * @param uuid - the module's uuid (default {@link moduleUUID})
 * @returns `pepr-<uuid>-schedule`
 */
export function scheduleStoreName(uuid = moduleUUID()): string {
  return `pepr-${uuid}-schedule`;
}

/** Pepr sends the queued Store writes as one JSON patch every this many ms (controller/store.ts `debounceBackoffSend`). */
export const FLUSH_INTERVAL_MS = 4000;
/** Pepr applies a PeprStore watch event this many ms after the last one (controller/store.ts `debounceBackoffReceive`). */
export const RECEIVE_DEBOUNCE_MS = 1000;
/** setItemAndWait rejects after this many ms without the value back (core/storage.ts `MAX_WAIT_TIME`). */
export const SET_ITEM_AND_WAIT_MS = 15_000;

/**
 * The module's uuid: `pepr.uuid` in this package's package.json, found by walking up from this
 * file (it runs from `store/` under tsx and Jest, and from `build/store/` once compiled). The
 * capability reads the same field through its JSON import of package.json (bundled by
 * `pepr build`).
 *
 * @param from - the directory to start from (default: this file's)
 * @returns the uuid
 * @throws Error when no package.json named {@link PACKAGE_NAME} with a `pepr.uuid` is found
 */
export function moduleUUID(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const file = path.join(dir, "package.json");
    let pkg: { name?: unknown; pepr?: { uuid?: unknown } } | undefined;
    try {
      pkg = JSON.parse(readFileSync(file, "utf8"));
    } catch {
      pkg = undefined;
    }
    if (pkg?.name === PACKAGE_NAME) {
      if (typeof pkg.pepr?.uuid !== "string" || pkg.pepr.uuid === "") {
        throw new Error(`${file}: no pepr.uuid`);
      }
      return pkg.pepr.uuid;
    }
    if (path.dirname(dir) === dir) {
      throw new Error(`cannot find the ${PACKAGE_NAME} package.json above ${from}`);
    }
  }
}
