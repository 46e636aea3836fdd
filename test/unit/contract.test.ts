// store/contract.ts copies what Pepr does not export; each copy is checked here against the
// installed Pepr's sources (node_modules/pepr/src), so upgrading Pepr fails this test instead of
// silently disagreeing with it.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { peprStoreCRD } from "pepr/src/lib/assets/store";
import { peprStoreGVK } from "pepr/src/lib/k8s";

import {
  CACHE_ID_LABEL,
  PACKAGE_NAME,
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

describe("moduleUUID", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), "hpsr-unit-uuid-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Writes `content` as `<dir>/<sub>/package.json` and returns `<dir>/<sub>`. */
  const packageIn = (sub: string, content: string): string => {
    const at = path.join(dir, sub);
    mkdirSync(at, { recursive: true });
    writeFileSync(path.join(at, "package.json"), content);
    return at;
  };

  it("takes pepr.uuid from the first package.json named hello-pepr-store-resources above", () => {
    packageIn("", JSON.stringify({ name: PACKAGE_NAME, pepr: { uuid: "outer" } }));
    packageIn("a", JSON.stringify({ name: "another-package", pepr: { uuid: "not-this" } }));
    const start = packageIn("a/b", "{ not json");
    expect(moduleUUID(path.join(start, "c"))).toBe("outer");
  });

  it("fails without pepr.uuid, or with one that is empty or not a string", () => {
    for (const pepr of [undefined, {}, { uuid: "" }, { uuid: 7 }]) {
      const at = packageIn("", JSON.stringify({ name: PACKAGE_NAME, pepr }));
      expect(() => moduleUUID(at)).toThrow(
        new Error(`${path.join(at, "package.json")}: no pepr.uuid`),
      );
    }
  });

  it("fails naming where it started when no package.json above is this package's", () => {
    const start = packageIn("a", JSON.stringify({ name: "another-package" }));
    expect(() => moduleUUID(start)).toThrow(
      new Error(`cannot find the hello-pepr-store-resources package.json above ${start}`),
    );
  });
});
