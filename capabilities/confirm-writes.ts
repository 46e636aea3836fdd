// Protection for the capability's Store writes against what Pepr 1.1.4 loses or misreports
// (node_modules/pepr/src/lib/controller/storeCache.ts and store.ts):
// - a PATCH that fails with anything but 422 re-queues `payload[Number(index)]`, i.e. `undefined`:
//   the next flush sends nulls, gets a 422, and the writes are dropped;
// - a successful PATCH deletes every queued write, including those queued while it was in flight;
// - if the PeprStore CR is deleted, every PATCH fails (404) until the watcher restarts, and the
//   watch hands the Store the deleted CR's old data, so setItemAndWait can resolve on a key that
//   is no longer anywhere;
// - the watch is debounced by 1 s and the debounce restarts on every event, so while another
//   client patches the CR more often than once a second the Store hears nothing.
// confirmWrites therefore reads the CR back from the API server after the capability's wait,
// re-writes what is missing (bounded, with backoff), and re-creates the CR, as Pepr does at
// start-up, when it is gone. When the API server cannot be read it falls back to Store.getItem.
import { K8s, kind, Log } from "pepr";

import {
  CACHE_ID_LABEL,
  keyPrefix,
  PEPR_STORE_GVK,
  PLACEHOLDER,
  STORE_NAMESPACE,
} from "../store/contract";

/** How many times {@link confirmWrites} checks the store; between checks it re-writes. */
export const CONFIRM_ATTEMPTS = 4;
/** Pause before the first re-write; doubled before each further one. */
export const CONFIRM_BACKOFF_MS = 1_000;

/** The part of Pepr's Store that confirmWrites uses. */
export interface StoreReader {
  getItem(key: string): string | null;
  setItemAndWait(key: string, value: string): Promise<string>;
}

/** Thrown when writes are still missing from the store after {@link CONFIRM_ATTEMPTS} checks. */
export class UnconfirmedWritesError extends Error {
  constructor(
    readonly missing: string[],
    readonly attempts: number,
    cause: unknown,
  ) {
    super(`store writes not confirmed after ${attempts} checks: missing ${missing.join(", ")}`, {
      cause,
    });
    this.name = "UnconfirmedWritesError";
  }
}

export interface ConfirmOptions {
  /** Default {@link CONFIRM_ATTEMPTS}. */
  attempts?: number;
  /** Default {@link CONFIRM_BACKOFF_MS}. */
  backoffMs?: number;
  /**
   * Reads this capability's keys as the API server holds them (see {@link readPersisted}):
   * `null` when the store CR does not exist; throws when it cannot be read. Without it, or when it
   * throws, keys are checked with Store.getItem.
   */
  readPersisted?: () => Promise<Record<string, string> | null>;
  /** Creates the store CR when readPersisted found none (see {@link createStore}). */
  createStore?: () => Promise<void>;
}

/**
 * Waits for `firstWait` (the capability's own setItemAndWait), then checks that every key of
 * `expected` holds its value in the store, re-writing the missing ones with setItemAndWait until
 * all are confirmed or `attempts` checks have failed.
 *
 * @param store - the capability's Store
 * @param expected - every key the capability wrote, with its value
 * @param firstWait - the capability's own wait; its rejection is not final
 * @param options - attempts, backoff, and how to read and re-create the store CR
 * @returns when every key is confirmed
 * @throws UnconfirmedWritesError naming the keys still missing (also logged as an error)
 */
export async function confirmWrites(
  store: StoreReader,
  expected: Readonly<Record<string, string>>,
  firstWait: Promise<unknown>,
  options: ConfirmOptions = {},
): Promise<void> {
  const attempts = options.attempts ?? CONFIRM_ATTEMPTS;
  const backoffMs = options.backoffMs ?? CONFIRM_BACKOFF_MS;
  let lastError = await failureOf(firstWait);
  for (let attempt = 1; ; attempt++) {
    const missing = await missingKeys(store, expected, options);
    if (missing.length === 0) return;
    if (attempt >= attempts) {
      Log.error(
        { missing, attempts: attempt, lastError: describe(lastError) },
        "store writes not confirmed",
      );
      throw new UnconfirmedWritesError(missing, attempt, lastError);
    }
    const delayMs = backoffMs * 2 ** (attempt - 1);
    Log.warn(
      { missing, attempt, delayMs, lastError: describe(lastError) },
      "re-writing store keys",
    );
    await new Promise(resolve => setTimeout(resolve, delayMs));
    const results = await Promise.allSettled(
      missing.map(key => store.setItemAndWait(key, expected[key])),
    );
    const failed = results.find(r => r.status === "rejected");
    lastError = failed?.status === "rejected" ? failed.reason : undefined;
  }
}

/** The keys of `expected` whose value is not persisted (or, when that cannot be read, not in the Store). */
async function missingKeys(
  store: StoreReader,
  expected: Readonly<Record<string, string>>,
  options: ConfirmOptions,
): Promise<string[]> {
  const keys = Object.keys(expected);
  if (options.readPersisted) {
    try {
      const persisted = await options.readPersisted();
      if (persisted !== null) return keys.filter(key => persisted[key] !== expected[key]);
      try {
        await options.createStore?.();
      } catch (err) {
        Log.warn({ err }, "store CR could not be re-created");
      }
      return keys;
    } catch (err) {
      Log.warn({ err }, "store CR could not be read: checking Store.getItem");
    }
  }
  return keys.filter(key => store.getItem(key) !== expected[key]);
}

// A kindOverride rather than store/peprstore.ts's RegisterKind'd class: RegisterKind keys kinds by
// class name, and in the minified module bundle that name can collide with Pepr's own Store kind.
const peprStores = () =>
  K8s(kind.GenericKind, {
    namespace: STORE_NAMESPACE,
    kindOverride: PEPR_STORE_GVK,
  });

/**
 * Reads a capability's keys from the store CR on the API server, with the `<capability>-v2-`
 * prefix removed (as Store.getItem sees them).
 *
 * @param name - the CR name, `pepr-<uuid>-store`
 * @param capability - the capability whose keys to return
 * @returns the keys and values, or `null` when the CR does not exist
 * @throws the API error when the CR cannot be read for another reason
 */
export async function readPersisted(
  name: string,
  capability: string,
): Promise<Record<string, string> | null> {
  let cr: kind.GenericKind;
  try {
    cr = await peprStores().Get(name);
  } catch (err) {
    if ((err as { status?: number }).status === 404) return null;
    throw err;
  }
  const prefix = keyPrefix(capability);
  const data = (cr.data ?? {}) as Record<string, string>;
  return Object.fromEntries(
    Object.entries(data)
      .filter(([key]) => key.startsWith(prefix))
      .map(([key, value]) => [key.slice(prefix.length), value]),
  );
}

/**
 * Creates the store CR with Pepr's placeholder, as Pepr's StoreController does at start-up.
 *
 * @param name - the CR name, `pepr-<uuid>-store`
 * @throws the API error when it cannot be created
 */
export async function createStore(name: string): Promise<void> {
  Log.warn({ name, namespace: STORE_NAMESPACE }, "store CR missing: creating it again");
  await peprStores().Create({
    apiVersion: `${PEPR_STORE_GVK.group}/${PEPR_STORE_GVK.version}`,
    kind: PEPR_STORE_GVK.kind,
    metadata: {
      name,
      namespace: STORE_NAMESPACE,
      labels: { [CACHE_ID_LABEL]: `${Date.now()}` },
    },
    data: { ...PLACEHOLDER },
  } as kind.GenericKind);
}

async function failureOf(wait: Promise<unknown>): Promise<unknown> {
  try {
    await wait;
    return undefined;
  } catch (err) {
    return err;
  }
}

/** Pepr rejects with strings; errors keep their message. */
function describe(err: unknown): string | undefined {
  if (err === undefined) return undefined;
  return err instanceof Error ? err.message : String(err);
}
