// store/contract.ts copies what Pepr does not export; each copy is checked here against the
// installed Pepr's sources (node_modules/pepr/src), so upgrading Pepr fails this test instead of
// silently disagreeing with it.
import { readFileSync } from "node:fs";
import path from "node:path";

import { peprStoreCRD } from "pepr/src/lib/assets/store";
import { peprStoreGVK } from "pepr/src/lib/k8s";

import {
  CACHE_ID_LABEL,
  FLUSH_INTERVAL_MS,
  keyPrefix,
  moduleUUID,
  PEPR_STORE_GVK,
  PEPR_STORE_RESOURCE,
  PLACEHOLDER,
  RECEIVE_DEBOUNCE_MS,
  scheduleStoreName,
  SET_ITEM_AND_WAIT_MS,
  STORE_NAMESPACE,
  storeName,
  V2_SEPARATOR,
} from "../../store/contract";

const root = path.join(__dirname, "..", "..");
const peprSource = (file: string): string =>
  readFileSync(path.join(root, "node_modules", "pepr", "src", "lib", file), "utf8");

/** The value of `const <name> = <literal>;` in a Pepr source file. */
function peprConstant(file: string, name: string): string {
  const m = new RegExp(`const ${name} = ("[^"]*"|\\d+);`).exec(peprSource(file));
  if (!m) throw new Error(`pepr src/lib/${file}: no "const ${name} = <literal>;"`);
  return m[1].startsWith('"') ? JSON.parse(m[1]) : m[1];
}

describe("store contract (store/contract.ts) against the installed Pepr", () => {
  it("puts every store in Pepr's namespace", () => {
    expect(STORE_NAMESPACE).toBe(peprConstant("controller/store.ts", "namespace"));
  });

  it("names the store pepr-<uuid>-store, the uuid being package.json pepr.uuid", () => {
    expect(peprSource("controller/index.ts")).toContain("`pepr-${config.uuid}-store`");
    const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
    expect(moduleUUID()).toBe(pkg.pepr.uuid);
    expect(storeName()).toBe(`pepr-${pkg.pepr.uuid}-store`);
  });

  it("names the schedule store pepr-<uuid>-schedule", () => {
    expect(peprSource("controller/index.ts")).toContain("`pepr-${config.uuid}-schedule`");
    expect(scheduleStoreName("u")).toBe("pepr-u-schedule");
  });

  it("has Pepr's placeholder", () => {
    const [[key, value]] = Object.entries(PLACEHOLDER);
    expect(peprSource("controller/store.ts")).toContain(`${key}: "${value}",`);
  });

  it("prefixes a capability's keys with <capability>-v2-", () => {
    expect(V2_SEPARATOR).toBe(`-${peprConstant("core/storage.ts", "STORE_VERSION_PREFIX")}-`);
    expect(keyPrefix("cap")).toBe("cap-v2-");
  });

  it("has Pepr's PeprStore group, version, kind and plural", () => {
    expect(PEPR_STORE_GVK).toEqual({ ...peprStoreGVK, plural: peprStoreCRD.spec.names.plural });
    expect(PEPR_STORE_RESOURCE).toBe(peprStoreCRD.metadata?.name);
  });

  it("has Pepr's cache-ID label", () => {
    expect(peprSource("controller/storeCache.ts")).toContain(
      `path: "/metadata/labels/${CACHE_ID_LABEL}"`,
    );
  });

  it("has Pepr's flush interval, receive debounce and setItemAndWait limit", () => {
    expect({
      flush: FLUSH_INTERVAL_MS,
      debounce: RECEIVE_DEBOUNCE_MS,
      wait: SET_ITEM_AND_WAIT_MS,
    }).toEqual({
      flush: Number(peprConstant("controller/store.ts", "debounceBackoffSend")),
      debounce: Number(peprConstant("controller/store.ts", "debounceBackoffReceive")),
      wait: Number(peprConstant("core/storage.ts", "MAX_WAIT_TIME")),
    });
  });
});
