// How long the capability may take, as a function of Pepr 1.1.4's own timers (store/contract.ts,
// checked against Pepr's sources by test/unit/contract.test.ts). Imports nothing that loads Pepr,
// so the demo (scripts/start.ts) and the tests derive their deadlines from it.
import { SET_ITEM_AND_WAIT_MS } from "../store/contract";

/** How many times confirmWrites checks the store CR; between two checks it re-writes. */
export const CONFIRM_ATTEMPTS = 4;
/** Pause before the first re-write; doubled before each further one. */
export const CONFIRM_BACKOFF_MS = 1_000;
/** Every request the capability makes to the API server is aborted after this long. */
export const API_REQUEST_TIMEOUT_MS = 3_000;
/** How many times one check reads the store CR before it gives up (network error, 5xx, 403, timeout). */
export const READ_TRIES = 3;
/** Pause before the second read of a check; doubled before each further one. */
export const READ_RETRY_PAUSE_MS = 500;

/** The pauses between the reads of one check: 500 ms, 1000 ms. */
export function readRetryPauses(tries = READ_TRIES, pauseMs = READ_RETRY_PAUSE_MS): number[] {
  return Array.from({ length: tries - 1 }, (_, i) => pauseMs * 2 ** i);
}

/** The pauses before each re-write: 1 s, 2 s, 4 s. */
export function rewriteBackoffs(attempts = CONFIRM_ATTEMPTS, backoffMs = CONFIRM_BACKOFF_MS) {
  return Array.from({ length: attempts - 1 }, (_, i) => backoffMs * 2 ** i);
}

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);

/**
 * The longest one check can take: every read but the last fails at its timeout, then the CR is
 * found missing and re-created: READ_TRIES × 3 s + 0.5 s + 1 s + 3 s = 13.5 s.
 */
export const CHECK_WORST_CASE_MS =
  READ_TRIES * API_REQUEST_TIMEOUT_MS + sum(readRetryPauses()) + API_REQUEST_TIMEOUT_MS;

/**
 * The longest the capability can take from the creation of observe to `observed` or to
 * "store writes not confirmed": Pepr's 15 s wait, then {@link CONFIRM_ATTEMPTS} checks with a
 * re-write (backoff + Pepr's 15 s wait) between two of them:
 * 15 + 4 × 13.5 + (1 + 15) + (2 + 15) + (4 + 15) = 121 s. The common case is one flush interval
 * plus the debounce (5 s); this bound is what a caller waiting for `observed` must allow.
 */
export const CONFIRM_WORST_CASE_MS =
  SET_ITEM_AND_WAIT_MS +
  CONFIRM_ATTEMPTS * CHECK_WORST_CASE_MS +
  sum(rewriteBackoffs()) +
  (CONFIRM_ATTEMPTS - 1) * SET_ITEM_AND_WAIT_MS;

/** Allowance for the ConfigMap's watch event to reach the watcher and its log line to be read. */
export const WATCH_DELIVERY_ALLOWANCE_MS = 10_000;

/**
 * How long a caller (`npm start`, the e2e tests) waits for `observed` after creating observe:
 * the capability's worst case plus the watch delivery. Past it the capability has given up.
 */
export const OBSERVED_DEADLINE_MS = CONFIRM_WORST_CASE_MS + WATCH_DELIVERY_ALLOWANCE_MS;
