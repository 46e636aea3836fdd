// Decoding a PeprStore's data into each capability's keys, the way Pepr 1.1.4 reads them back.
// Pure functions: no cluster, no I/O. The rules, with the Pepr source they follow:
//
// - Pepr writes a capability's key `k` with the JSON Patch path `/data/<capability>-v2-<escaped>`
//   where `<escaped>` is `k` as a JSON pointer token (`~` → `~0`, `/` → `~1`; core/storage.ts
//   v2StoreKey, controller/storeCache.ts fillStoreCache). The API server applies the patch, so
//   the escapes are resolved once, on the way in: the CR holds `<capability>-v2-<k>` with `k`
//   exactly as the capability wrote it. Pepr reads it back without unescaping again:
//   StoreController strips `<capability>-` (controller/store.ts #receive) and `getItem(k)`
//   looks up `v2-<k>` (v2UnescapedStoreKey). So the decoded key is the rest of the CR key, as
//   is: a CR key `cap-v2-a~1b` is the key `a~1b`, never `a/b`.
// - `__pepr_do_not_delete__` is Pepr's placeholder (controller/store.ts) and is hidden.
// - A key `<capability>-<k>` without `v2-` is in the format before v2; Pepr migrates such keys
//   when the module starts (controller/migrateStore.ts). They are reported as unmigrated.
//
// Which capability a key belongs to: a key names its capability only as a prefix, and names
// overlap (`foo` and `foo-bar` both prefix `foo-bar-v2-x`; a key may itself contain `-v2-`).
// The rule, first match wins:
//   1. `<known>-v2-<k>` for a known capability name (the module's own capabilities), the
//      longest name first: what that capability's getItem(k) returns;
//   2. `<known>-<k>` for a known name, the longest first: an unmigrated key of it;
//   3. `<name>-v2-<k>` where `<name>` is everything before the FIRST `-v2-` (a name inferred
//      from the keys, for stores of modules whose capabilities are not known here);
//   4. `<inferred>-<k>` for a name inferred in step 3 from another key, the longest first;
//   5. otherwise the key matches no capability and is reported as unrecognized.
// So with known names the decoding is exact; without them a capability name containing `-v2-`
// cannot be told apart from a key containing `-v2-`, and the key wins (`a-v2-b-v2-c` is
// capability `a`, key `b-v2-c`).
import { CACHE_ID_LABEL, PLACEHOLDER_KEY, V2_SEPARATOR } from "./contract";

/** One capability's part of the store. */
export interface CapabilityData {
  /** Keys as the capability's Store reads them (`getItem(key)`), with their values. */
  items: Record<string, string>;
  /** Keys still in the format before v2 (`<capability>-<key>`), prefix stripped. */
  unmigrated: Record<string, string>;
}

/** A PeprStore's data, split by capability. */
export interface DecodedData {
  /** Every capability with keys in the store, and every known one; sorted by name. */
  capabilities: Record<string, CapabilityData>;
  /** CR keys that match no capability, as they are in the CR (placeholder excluded). */
  unrecognized: Record<string, string>;
}

/** Where one CR key belongs. */
export type KeyClass =
  | { kind: "v2"; capability: string; key: string }
  | { kind: "unmigrated"; capability: string; key: string }
  | { kind: "placeholder" }
  | { kind: "unrecognized" };

/**
 * Orders strings by UTF-16 code units: stable across locales, unlike localeCompare.
 *
 * @param a - one string
 * @param b - the other
 * @returns negative, zero or positive, for Array.prototype.sort
 */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Distinct non-empty names, longest first (so the most specific prefix is tried first). */
function longestFirst(names: Iterable<string>): string[] {
  return [...new Set(names)]
    .filter(n => n !== "")
    .sort((a, b) => b.length - a.length || byCodeUnits(a, b));
}

/**
 * The capability names the keys imply: for every key containing `-v2-` after at least one
 * character, the text before its first `-v2-` (rule 3 of this file's header).
 *
 * @param crKeys - the keys of a PeprStore's `data`
 * @returns the inferred names, longest first
 */
export function inferCapabilities(crKeys: Iterable<string>): string[] {
  const names: string[] = [];
  for (const crKey of crKeys) {
    const at = crKey.indexOf(V2_SEPARATOR);
    if (at > 0 && crKey !== PLACEHOLDER_KEY) names.push(crKey.slice(0, at));
  }
  return longestFirst(names);
}

/**
 * Says which capability a CR key belongs to and the key that capability reads, by the rules in
 * this file's header.
 *
 * @param crKey - a key of the PeprStore's `data`, as the API server returns it
 * @param known - the module's capability names (may be empty)
 * @param inferred - names inferred from all keys of the store ({@link inferCapabilities})
 * @returns the key's class; for `v2` and `unmigrated` the capability and the key without prefix
 */
export function classifyKey(
  crKey: string,
  known: readonly string[],
  inferred: readonly string[],
): KeyClass {
  if (crKey === PLACEHOLDER_KEY) return { kind: "placeholder" };
  const knownNames = longestFirst(known);
  const inferredNames = longestFirst(inferred);
  const v2 = (names: string[]): KeyClass | undefined => {
    const name = names.find(n => crKey.startsWith(`${n}${V2_SEPARATOR}`));
    return name === undefined
      ? undefined
      : { kind: "v2", capability: name, key: crKey.slice(name.length + V2_SEPARATOR.length) };
  };
  const legacy = (names: string[]): KeyClass | undefined => {
    const name = names.find(n => crKey.startsWith(`${n}-`));
    return name === undefined
      ? undefined
      : { kind: "unmigrated", capability: name, key: crKey.slice(name.length + 1) };
  };
  return (
    v2(knownNames) ??
    legacy(knownNames) ??
    v2(inferredNames) ??
    legacy(inferredNames) ?? { kind: "unrecognized" }
  );
}

/**
 * Splits a PeprStore's `data` into each capability's keys (see this file's header).
 *
 * @param data - the CR's `data` (absent is the same as empty)
 * @param knownCapabilities - the module's capability names; listed in the result even when
 *   they have no keys. Without them, names are inferred from the keys.
 * @returns the capabilities, sorted by name, each with its keys sorted, and the keys that match
 *   no capability
 */
export function decodeStoreData(
  data: Record<string, string> | undefined,
  knownCapabilities: readonly string[] = [],
): DecodedData {
  const entries = Object.entries(data ?? {});
  const inferred = inferCapabilities(entries.map(([k]) => k));
  const items = new Map<string, [string, string][]>();
  const unmigrated = new Map<string, [string, string][]>();
  const unrecognized: [string, string][] = [];
  const push = (to: Map<string, [string, string][]>, name: string, entry: [string, string]) => {
    const list = to.get(name) ?? [];
    list.push(entry);
    to.set(name, list);
  };

  for (const [crKey, value] of entries) {
    const found = classifyKey(crKey, knownCapabilities, inferred);
    if (found.kind === "v2") push(items, found.capability, [found.key, value]);
    else if (found.kind === "unmigrated") push(unmigrated, found.capability, [found.key, value]);
    else if (found.kind === "unrecognized") unrecognized.push([crKey, value]);
  }

  const names = [...new Set([...knownCapabilities, ...items.keys(), ...unmigrated.keys()])]
    .filter(n => n !== "")
    .sort(byCodeUnits);
  // Object.fromEntries defines own properties, so a key such as `__proto__` stays a key.
  const record = (list: [string, string][] | undefined): Record<string, string> =>
    Object.fromEntries((list ?? []).sort(([a], [b]) => byCodeUnits(a, b)));
  return {
    capabilities: Object.fromEntries(
      names.map(n => [n, { items: record(items.get(n)), unmigrated: record(unmigrated.get(n)) }]),
    ),
    unrecognized: record(unrecognized),
  };
}

/**
 * The time of Pepr's last patch to the store, from its {@link CACHE_ID_LABEL} label.
 *
 * @param labels - the CR's `metadata.labels`
 * @returns the time, or `null` when the label is absent or not a millisecond timestamp
 */
export function lastFlushTime(labels: Record<string, string> | undefined): Date | null {
  const raw = labels?.[CACHE_ID_LABEL];
  if (raw === undefined || !/^\d{1,15}$/.test(raw)) return null;
  const time = new Date(Number(raw));
  return Number.isNaN(time.getTime()) ? null : time;
}

/** What happened to one key. */
export type ChangeType = "added" | "changed" | "removed";

/** One key of one capability that was added, changed or removed. */
export interface StoreChange {
  type: ChangeType;
  capability: string;
  key: string;
  /** The new value; absent when removed. */
  value?: string;
  /** The value before; absent when added. */
  previous?: string;
  /** Whether the key is in the format before v2 ({@link CapabilityData.unmigrated}). */
  unmigrated: boolean;
}

/** `record[key]` if it is an own property (so `constructor` or `__proto__` are plain names). */
function own<T>(record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/**
 * The key changes between two decoded states of a store, per capability. Unrecognized keys are
 * not reported: they belong to no capability.
 *
 * @param before - the earlier state (use `decodeStoreData({})` for "nothing yet")
 * @param after - the later state
 * @returns the changes, sorted by capability, v2 keys before unmigrated ones, then by key
 */
export function diffDecoded(before: DecodedData, after: DecodedData): StoreChange[] {
  const changes: StoreChange[] = [];
  const names = [
    ...new Set([...Object.keys(before.capabilities), ...Object.keys(after.capabilities)]),
  ].sort(byCodeUnits);
  for (const capability of names) {
    for (const unmigrated of [false, true]) {
      const part = unmigrated ? "unmigrated" : "items";
      const old = own(before.capabilities, capability)?.[part] ?? {};
      const now = own(after.capabilities, capability)?.[part] ?? {};
      const keys = [...new Set([...Object.keys(old), ...Object.keys(now)])].sort(byCodeUnits);
      for (const key of keys) {
        const had = Object.hasOwn(old, key);
        const has = Object.hasOwn(now, key);
        if (had && has && old[key] === now[key]) continue;
        if (!had) changes.push({ type: "added", capability, key, value: now[key], unmigrated });
        else if (!has)
          changes.push({ type: "removed", capability, key, previous: old[key], unmigrated });
        else
          changes.push({
            type: "changed",
            capability,
            key,
            value: now[key],
            previous: old[key],
            unmigrated,
          });
      }
    }
  }
  return changes;
}
