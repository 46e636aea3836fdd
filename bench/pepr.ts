// Pepr's store timings for the report: the store contract's copies (store/contract.ts, checked
// against the installed Pepr's sources by test/unit/contract.test.ts) and the installed version.
import { readFileSync } from "node:fs";
import path from "node:path";

import { repoRoot } from "../cluster";
import { FLUSH_INTERVAL_MS, RECEIVE_DEBOUNCE_MS, SET_ITEM_AND_WAIT_MS } from "../store/contract";

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

/** The store timings of the store contract, and the installed Pepr's version. */
export function peprTimings(root = repoRoot()): PeprTimings {
  const pkg = JSON.parse(
    readFileSync(path.join(root, "node_modules", "pepr", "package.json"), "utf8"),
  ) as { version: string };
  return {
    flushIntervalMs: FLUSH_INTERVAL_MS,
    receiveDebounceMs: RECEIVE_DEBOUNCE_MS,
    maxWaitMs: SET_ITEM_AND_WAIT_MS,
    version: pkg.version,
  };
}
