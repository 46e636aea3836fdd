// Decoding a PeprStore's data (store/decode.ts): the rules, their edge cases, and a round trip
// through Pepr's own Storage to prove the keys come out the way the capability reads them.

import {
  byCodeUnits,
  classifyKey,
  decodeStoreData,
  diffDecoded,
  inferCapabilities,
  lastFlushTime,
} from "../../store/decode";
import { PLACEHOLDER } from "../../store/contract";
import { MODULE_CAPABILITIES } from "../../store/capabilities";
import { loadCapability } from "./helpers";

const CAP = "hello-pepr-store-resources";

describe("decodeStoreData", () => {
  it("strips <capability>-v2- and hides the placeholder: the module's four keys", () => {
    const data = {
      ...PLACEHOLDER,
      [`${CAP}-v2-a`]: "1",
      [`${CAP}-v2-b`]: "2",
      [`${CAP}-v2-c`]: "3",
      [`${CAP}-v2-https://observed`]: "yay",
    };
    expect(decodeStoreData(data, [CAP])).toEqual({
      capabilities: {
        [CAP]: { items: { a: "1", b: "2", c: "3", "https://observed": "yay" }, unmigrated: {} },
      },
      unrecognized: {},
    });
  });

  it("lists a known capability without keys, and nothing else, for a store holding only the placeholder", () => {
    expect(decodeStoreData(PLACEHOLDER, [CAP])).toEqual({
      capabilities: { [CAP]: { items: {}, unmigrated: {} } },
      unrecognized: {},
    });
  });

  it("treats absent data like empty data", () => {
    expect(decodeStoreData(undefined)).toEqual({ capabilities: {}, unrecognized: {} });
  });

  it("keeps the key after the prefix as it is: the API server resolved ~0 and ~1 already", () => {
    const data = {
      [`${CAP}-v2-a/b`]: "slash", // written as .../v2-a~1b
      [`${CAP}-v2-a~b`]: "tilde", // written as .../v2-a~0b
      [`${CAP}-v2-x~1y`]: "the key is x~1y", // written as .../v2-x~01y
      [`${CAP}-v2-x~0y`]: "the key is x~0y", // written as .../v2-x~00y
      [`${CAP}-v2-~`]: "only a tilde",
      [`${CAP}-v2-/`]: "only a slash",
    };
    expect(decodeStoreData(data, [CAP]).capabilities[CAP].items).toEqual({
      "a/b": "slash",
      "a~b": "tilde",
      "x~1y": "the key is x~1y",
      "x~0y": "the key is x~0y",
      "~": "only a tilde",
      "/": "only a slash",
    });
  });

  it("keeps -v2- inside a key: only the capability's own prefix is stripped", () => {
    const data = { [`${CAP}-v2-k-v2-z`]: "1", [`${CAP}-v2-v2-`]: "2" };
    expect(decodeStoreData(data, [CAP]).capabilities[CAP].items).toEqual({
      "k-v2-z": "1",
      "v2-": "2",
    });
  });

  it("keeps empty values and the empty key", () => {
    const data = { [`${CAP}-v2-empty`]: "", [`${CAP}-v2-`]: "empty key" };
    expect(decodeStoreData(data, [CAP]).capabilities[CAP].items).toEqual({
      empty: "",
      "": "empty key",
    });
  });

  it("keeps unicode keys and values", () => {
    const data = { [`${CAP}-v2-ключ`]: "значение ✓", [`${CAP}-v2-😀/é`]: "🎉" };
    expect(decodeStoreData(data, [CAP]).capabilities[CAP].items).toEqual({
      ключ: "значение ✓",
      "😀/é": "🎉",
    });
  });

  it("reports keys without v2- as unmigrated, prefix stripped", () => {
    const data = {
      ...PLACEHOLDER,
      [`${CAP}-testing`]: "migrated",
      [`${CAP}-v2`]: "a key named v2",
      [`${CAP}-v2-kept`]: "v2",
    };
    expect(decodeStoreData(data, [CAP])).toEqual({
      capabilities: {
        [CAP]: { items: { kept: "v2" }, unmigrated: { testing: "migrated", v2: "a key named v2" } },
      },
      unrecognized: {},
    });
  });

  it("reports keys of no capability as unrecognized, as they are in the CR", () => {
    const data = { weird: "w", "-v2-x": "no name", [CAP]: "no dash", [`${CAP}-v2-a`]: "1" };
    expect(decodeStoreData(data, [CAP])).toEqual({
      capabilities: { [CAP]: { items: { a: "1" }, unmigrated: {} } },
      unrecognized: { "-v2-x": "no name", [CAP]: "no dash", weird: "w" },
    });
  });

  it("keeps __proto__ and constructor as plain keys", () => {
    const decoded = decodeStoreData(
      { [`${CAP}-v2-__proto__`]: "p", [`${CAP}-v2-constructor`]: "c" },
      [CAP],
    );
    const items = decoded.capabilities[CAP].items;
    expect(Object.keys(items)).toEqual(["__proto__", "constructor"]);
    expect(Object.getOwnPropertyDescriptor(items, "__proto__")?.value).toBe("p");
    expect(Object.getPrototypeOf(items)).toBe(Object.prototype);
  });

  it("sorts capabilities and keys by code units", () => {
    const data = { "zeta-v2-b": "1", "alpha-v2-b": "2", "alpha-v2-B": "3", "alpha-v2-a": "4" };
    const decoded = decodeStoreData(data);
    expect(Object.keys(decoded.capabilities)).toEqual(["alpha", "zeta"]);
    expect(Object.keys(decoded.capabilities.alpha.items)).toEqual(["B", "a", "b"]);
  });
});

describe("byCodeUnits", () => {
  it("orders by UTF-16 code units, equal strings as 0", () => {
    expect(byCodeUnits("a", "b")).toBe(-1);
    expect(byCodeUnits("b", "a")).toBe(1);
    expect(byCodeUnits("a", "a")).toBe(0);
    expect(byCodeUnits("B", "a")).toBe(-1); // "B" is 0x42, "a" 0x61; localeCompare says 1
    expect(byCodeUnits("a", "ab")).toBe(-1);
  });
});

describe("which capability a key belongs to (overlapping names)", () => {
  const known = ["foo", "foo-bar"];
  const classify = (key: string, names: string[]) =>
    classifyKey(key, names, inferCapabilities([key]));

  it("gives foo-bar-v2-x to foo-bar: foo's getItem reads only foo-v2-*", () => {
    expect(classify("foo-bar-v2-x", known)).toEqual({
      kind: "v2",
      capability: "foo-bar",
      key: "x",
    });
  });

  it("gives foo-v2-bar-v2-x to foo, key bar-v2-x", () => {
    expect(classify("foo-v2-bar-v2-x", known)).toEqual({
      kind: "v2",
      capability: "foo",
      key: "bar-v2-x",
    });
  });

  it("gives an unmigrated foo-bar-y to the longest known name", () => {
    expect(classify("foo-bar-y", known)).toEqual({
      kind: "unmigrated",
      capability: "foo-bar",
      key: "y",
    });
    expect(classify("foo-y", known)).toEqual({ kind: "unmigrated", capability: "foo", key: "y" });
  });

  it("trusts the known names: with only foo known, foo-bar-v2-x is foo's unmigrated bar-v2-x", () => {
    expect(classify("foo-bar-v2-x", ["foo"])).toEqual({
      kind: "unmigrated",
      capability: "foo",
      key: "bar-v2-x",
    });
  });

  it("infers the name before the first -v2- when no name is known", () => {
    expect(classify("foo-bar-v2-x", [])).toEqual({ kind: "v2", capability: "foo-bar", key: "x" });
    expect(classify("a-v2-b-v2-c", [])).toEqual({ kind: "v2", capability: "a", key: "b-v2-c" });
  });

  it("decodes a capability name containing -v2- exactly when it is known", () => {
    expect(classify("a-v2-b-v2-c", ["a-v2-b"])).toEqual({
      kind: "v2",
      capability: "a-v2-b",
      key: "c",
    });
  });

  it("uses names inferred from other keys for unmigrated keys of an unknown module", () => {
    const decoded = decodeStoreData({
      "foo-v2-x": "1",
      "foo-bar-v2-y": "2",
      "foo-bar-old": "3",
      "foo-old": "4",
    });
    expect(decoded).toEqual({
      capabilities: {
        foo: { items: { x: "1" }, unmigrated: { old: "4" } },
        "foo-bar": { items: { y: "2" }, unmigrated: { old: "3" } },
      },
      unrecognized: {},
    });
  });

  it("ignores an empty known name: -v2-x belongs to no capability", () => {
    expect(decodeStoreData({ "-v2-x": "1", "cap-v2-y": "2" }, ["", "cap"])).toEqual({
      capabilities: { cap: { items: { y: "2" }, unmigrated: {} } },
      unrecognized: { "-v2-x": "1" },
    });
  });

  it("infers names only from keys with -v2-: ab implies no capability a for a-z", () => {
    expect(inferCapabilities(["ab", "a-z", "-v2-x", "b-v2-y"])).toEqual(["b"]);
    expect(decodeStoreData({ ab: "1", "a-z": "2" })).toEqual({
      capabilities: {},
      unrecognized: { "a-z": "2", ab: "1" },
    });
  });

  it("hides the placeholder whatever the names", () => {
    expect(classifyKey("__pepr_do_not_delete__", ["__pepr"], [])).toEqual({
      kind: "placeholder",
    });
  });
});

describe("lastFlushTime", () => {
  it("reads Date.now() from the pepr.dev-cacheID label", () => {
    expect(lastFlushTime({ "pepr.dev-cacheID": "1726798504518" })).toEqual(
      new Date("2024-09-20T02:15:04.518Z"),
    );
  });

  it("is null without the label or with a label that is not a timestamp", () => {
    expect(lastFlushTime(undefined)).toBeNull();
    expect(lastFlushTime({})).toBeNull();
    expect(lastFlushTime({ "pepr.dev-cacheID": "" })).toBeNull();
    expect(lastFlushTime({ "pepr.dev-cacheID": "12x" })).toBeNull();
    expect(lastFlushTime({ "pepr.dev-cacheID": "9".repeat(16) })).toBeNull();
    // Number() would accept these: the whole label must be digits
    expect(lastFlushTime({ "pepr.dev-cacheID": " 1726798504518" })).toBeNull();
    expect(lastFlushTime({ "pepr.dev-cacheID": "1726798504518 " })).toBeNull();
  });
});

describe("diffDecoded", () => {
  it("reports added, changed and removed keys per capability, v2 before unmigrated", () => {
    const before = decodeStoreData(
      { [`${CAP}-v2-a`]: "1", [`${CAP}-v2-b`]: "2", [`${CAP}-old`]: "x", "other-v2-k": "" },
      [CAP],
    );
    const after = decodeStoreData(
      { [`${CAP}-v2-a`]: "1", [`${CAP}-v2-b`]: "20", [`${CAP}-v2-c`]: "3", "other-v2-k": "" },
      [CAP],
    );
    expect(diffDecoded(before, after)).toEqual([
      { type: "changed", capability: CAP, key: "b", value: "20", previous: "2", unmigrated: false },
      { type: "added", capability: CAP, key: "c", value: "3", unmigrated: false },
      { type: "removed", capability: CAP, key: "old", previous: "x", unmigrated: true },
    ]);
  });

  it("reports a change from or to the empty value", () => {
    const before = decodeStoreData({ "c-v2-k": "" });
    const after = decodeStoreData({ "c-v2-k": "v" });
    expect(diffDecoded(before, after)).toEqual([
      { type: "changed", capability: "c", key: "k", value: "v", previous: "", unmigrated: false },
    ]);
    expect(diffDecoded(after, before)).toEqual([
      { type: "changed", capability: "c", key: "k", value: "", previous: "v", unmigrated: false },
    ]);
  });

  it("orders the changes by capability, then by key, whatever came first", () => {
    const before = decodeStoreData({ "b-v2-y": "1", "b-v2-z": "1" });
    const after = decodeStoreData({ "a-v2-k": "2", "b-v2-x": "2" });
    expect(diffDecoded(before, after).map(c => `${c.type} ${c.capability} ${c.key}`)).toEqual([
      "added a k",
      "added b x",
      "removed b y",
      "removed b z",
    ]);
  });

  it("reports every key as removed when the store goes away", () => {
    const before = decodeStoreData({ "c-v2-constructor": "1" });
    expect(diffDecoded(before, decodeStoreData({}))).toEqual([
      { type: "removed", capability: "c", key: "constructor", previous: "1", unmigrated: false },
    ]);
  });
});

describe("this module", () => {
  it("has exactly the capabilities MODULE_CAPABILITIES names", async () => {
    const { capability } = await loadCapability();
    expect(MODULE_CAPABILITIES).toEqual([capability.name]);
  });
});

/**
 * RFC 6901: how the API server turns a JSON Patch path token back into a key (`~1` → `/`, then
 * `~0` → `~`, in that order).
 */
function unescapePointerToken(token: string): string {
  return token.replace(/~1/g, "/").replace(/~0/g, "~");
}

describe("round trip through Pepr's Storage", () => {
  const cases: [string, string][] = [
    ["a", "1"],
    ["https://observed", "yay"],
    ["a/b", "slash"],
    ["~", "tilde"],
    ["~1", "a literal ~1"],
    ["x~0y/z", "both"],
    ["k-v2-z", "-v2- inside"],
    ["v2-", "v2- at the start"],
    ["ключ 😀", "значение"],
    ["__proto__", "proto"],
    ["empty", ""],
    ["", "the empty key"],
  ];

  it("writes each key with Pepr's Storage and reads it back with decodeStoreData and getItem", async () => {
    const { capability } = await loadCapability();
    const storage = capability.registerStore();
    const sent: { op: string; keys: string[] }[] = [];
    storage.registerSender((op, keys) => sent.push({ op, keys }));
    const data: Record<string, string> = { ...PLACEHOLDER };

    for (const [key, value] of cases) {
      sent.length = 0;
      storage.setItem(key, value);
      expect(sent.map(s => s.op)).toEqual(["add"]);
      // StoreController's sender makes it a JSON Patch path (storeCache.ts fillStoreCache) ...
      const patchPath = [`/data/${capability.name}`, ...sent[0].keys].join("-");
      const [, field, token, ...rest] = patchPath.split("/");
      expect([field, rest]).toEqual(["data", []]);
      // ... which the API server applies: the CR's data gets the unescaped key.
      data[unescapePointerToken(token)] = value;
    }

    const decoded = decodeStoreData(data, MODULE_CAPABILITIES);
    expect(decoded).toEqual({
      capabilities: { [capability.name]: { items: Object.fromEntries(cases), unmigrated: {} } },
      unrecognized: {},
    });

    // Pepr's watch hands the capability its keys without `<capability>-` (store.ts #receive);
    // getItem finds each, except that it turns the empty value into null.
    const offset = `${capability.name}-`.length;
    storage.receive(
      Object.fromEntries(
        Object.entries(data)
          .filter(([k]) => k.startsWith(capability.name))
          .map(([k, v]) => [k.slice(offset), v]),
      ),
    );
    expect(cases.map(([key]) => [key, storage.getItem(key)])).toEqual(
      cases.map(([key, value]) => [key, value === "" ? null : value]),
    );
  });
});
