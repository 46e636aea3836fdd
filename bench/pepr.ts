// Pepr's store timings, read from the installed Pepr's sources rather than copied, so the design
// bound the report compares against is the one of the Pepr that ran.
import { readFileSync } from "node:fs";
import path from "node:path";

import { repoRoot } from "../test/harness/paths";

/** The timings of Pepr's store, in ms. */
export interface PeprTimings {
  /** `debounceBackoffSend` (src/lib/controller/store.ts): the flush interval of queued writes. */
  flushIntervalMs: number;
  /** `debounceBackoffReceive` (same file): the debounce of PeprStore watch events. */
  receiveDebounceMs: number;
  /** `MAX_WAIT_TIME` (src/lib/core/storage.ts): how long setItemAndWait waits. */
  maxWaitMs: number;
  /** The installed Pepr's version. */
  version: string;
}

/**
 * Reads the store constants from node_modules/pepr/src.
 *
 * @throws Error when a constant is not found (Pepr changed: re-check what the benchmark assumes)
 */
export function peprTimings(root = repoRoot()): PeprTimings {
  const src = path.join(root, "node_modules", "pepr", "src", "lib");
  const store = readFileSync(path.join(src, "controller", "store.ts"), "utf8");
  const storage = readFileSync(path.join(src, "core", "storage.ts"), "utf8");
  const constant = (text: string, name: string, file: string): number => {
    const m = new RegExp(`const ${name} = (\\d+);`).exec(text);
    if (!m) throw new Error(`pepr ${file}: no "const ${name} = <number>;"`);
    return Number(m[1]);
  };
  const pkg = JSON.parse(
    readFileSync(path.join(root, "node_modules", "pepr", "package.json"), "utf8"),
  ) as { version: string };
  return {
    flushIntervalMs: constant(store, "debounceBackoffSend", "controller/store.ts"),
    receiveDebounceMs: constant(store, "debounceBackoffReceive", "controller/store.ts"),
    maxWaitMs: constant(storage, "MAX_WAIT_TIME", "core/storage.ts"),
    version: pkg.version,
  };
}
