// Protection for the capability's Store writes against what Pepr 1.1.4's flusher loses
// (node_modules/pepr/src/lib/controller/storeCache.ts):
// - a PATCH that fails with anything but 422 re-queues `payload[Number(index)]`, i.e. `undefined`:
//   the next flush sends nulls, gets a 422, and the writes are dropped;
// - a successful PATCH deletes every queued write, including those queued while it was in flight;
// - if the PeprStore CR is deleted, every PATCH fails (404) until the watcher restarts.
// confirmWrites checks through Store.getItem that every write landed, re-writes what is missing
// (bounded, with backoff) and, after a failed wait, checks that the CR itself exists and creates
// it again as Pepr does at start-up if it is gone.
import { K8s, kind, Log } from "pepr";

/** How many times {@link confirmWrites} checks the store; between checks it re-writes. */
export const CONFIRM_ATTEMPTS = 4;
/** Pause before the first re-write; doubled before each further one. */
export const CONFIRM_BACKOFF_MS = 1_000;
/** Namespace of Pepr's store CRs (pepr src/lib/controller/store.ts). */
export const STORE_NAMESPACE = "pepr-system";

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
   * Called after a wait failed, before the keys are checked: makes sure the store CR exists and
   * resolves `true` if it had to be re-created. Pepr's in-memory copy of a deleted CR keeps the
   * old data, so getItem cannot be trusted then: every key counts as missing.
   */
  checkStore?: () => Promise<boolean>;
}

/**
 * Waits for `firstWait` (the capability's own setItemAndWait), then checks that every key of
 * `expected` holds its value in the store, re-writing the missing ones with setItemAndWait until
 * all are confirmed or `attempts` checks have failed.
 *
 * @param store - the capability's Store
 * @param expected - every key the capability wrote, with its value
 * @param firstWait - the capability's own wait; its rejection is not final
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
    const recreated = lastError !== undefined && (await storeRecreated(options.checkStore));
    const missing = Object.keys(expected).filter(
      key => recreated || store.getItem(key) !== expected[key],
    );
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

/** Runs `checkStore`; a failure to check (API server down) is logged and counts as "not re-created". */
async function storeRecreated(checkStore?: () => Promise<boolean>): Promise<boolean> {
  try {
    return (await checkStore?.()) ?? false;
  } catch (err) {
    Log.warn({ err }, "store check failed");
    return false;
  }
}

/**
 * Creates the store CR `name` in pepr-system, with Pepr's placeholder, if it does not exist:
 * what Pepr's StoreController does at start-up, for a CR deleted while the watcher runs.
 *
 * @param name - the CR name, `pepr-<uuid>-store`
 * @returns `true` if the CR was missing and has been created
 * @throws the API error when the CR cannot be read (other than 404) or created
 */
export async function ensureStoreExists(name: string): Promise<boolean> {
  const stores = K8s(kind.GenericKind, {
    namespace: STORE_NAMESPACE,
    kindOverride: { group: "pepr.dev", version: "v1", kind: "PeprStore", plural: "peprstores" },
  });
  try {
    await stores.Get(name);
    return false;
  } catch (err) {
    if ((err as { status?: number }).status !== 404) throw err;
  }
  Log.warn({ name, namespace: STORE_NAMESPACE }, "store CR missing: creating it again");
  await stores.Create({
    apiVersion: "pepr.dev/v1",
    kind: "PeprStore",
    metadata: { name, namespace: STORE_NAMESPACE, labels: { "pepr.dev-cacheID": `${Date.now()}` } },
    data: { __pepr_do_not_delete__: "k-thx-bye" },
  } as kind.GenericKind);
  return true;
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
