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
// start-up, when it is gone. Only what the API server returns counts: Pepr's in-memory Store can
// hold keys that exist nowhere, so when the CR cannot be read the writes are not confirmed.
import { fetch, kind, Log } from "pepr";
// K8s() of kubernetes-fluent-client 3.11.6 takes no AbortSignal and its HTTP agent waits up to
// undici's 300 s for headers. Its own k8sCfg (kubeconfig, TLS, token) and pathBuilder (the URL),
// which every K8s() call uses, are not in the package index, hence the deep import; with them
// and the client's fetch each request gets a timeout.
import type { FetchMethods } from "kubernetes-fluent-client/dist/fluent/shared-types";
import { k8sCfg, pathBuilder } from "kubernetes-fluent-client/dist/fluent/utils";

import {
  API_REQUEST_TIMEOUT_MS,
  CONFIRM_ATTEMPTS,
  CONFIRM_BACKOFF_MS,
  READ_RETRY_PAUSE_MS,
  READ_TRIES,
} from "./deadlines";
import {
  CACHE_ID_LABEL,
  keyPrefix,
  PEPR_STORE_GVK,
  PLACEHOLDER,
  STORE_NAMESPACE,
} from "../store/contract";

/** The part of Pepr's Store that confirmWrites uses. */
export interface StoreWriter {
  setItemAndWait(key: string, value: string): Promise<string>;
}

/** The store CR on the API server, as confirmWrites reads and re-creates it. */
export interface StoreCR {
  /**
   * Reads this capability's keys as the API server holds them (see {@link readPersisted}):
   * `null` when the store CR does not exist; throws when it cannot be read.
   */
  readPersisted(): Promise<Record<string, string> | null>;
  /** Creates the store CR when readPersisted found none (see {@link createStore}). */
  createStore(): Promise<void>;
}

/** Thrown when the writes cannot be confirmed: keys still missing, or the CR unreadable. */
export class UnconfirmedWritesError extends Error {
  constructor(
    /** Why: the keys still missing, or why the CR could not be read. */
    readonly reason: string,
    /** The keys not confirmed (all of them when the CR could not be read). */
    readonly missing: string[],
    /** How many checks were made. */
    readonly attempts: number,
    cause: unknown,
  ) {
    super(`store writes not confirmed after ${attempts} checks: ${reason}`, { cause });
    this.name = "UnconfirmedWritesError";
  }
}

export interface ConfirmOptions {
  /** Default {@link CONFIRM_ATTEMPTS}. */
  attempts?: number;
  /** Default {@link CONFIRM_BACKOFF_MS}. */
  backoffMs?: number;
  /** Reads per check; default {@link READ_TRIES}. */
  readTries?: number;
  /** Default {@link READ_RETRY_PAUSE_MS}. */
  readPauseMs?: number;
}

/**
 * Waits for `firstWait` (the capability's own setItemAndWait), then reads the store CR and
 * checks that every key of `expected` holds its value there, re-writing the missing ones with
 * setItemAndWait until all are confirmed or `attempts` checks have failed. A check that cannot
 * read the CR retries the read; when all its reads fail, nothing is confirmed. It settles within
 * CONFIRM_WORST_CASE_MS (./deadlines.ts).
 *
 * @param store - the capability's Store
 * @param expected - every key the capability wrote, with its value
 * @param firstWait - the capability's own wait; its rejection is not final
 * @param cr - how to read and re-create the store CR
 * @param options - attempts and backoffs
 * @returns when the API server holds every key with its value
 * @throws UnconfirmedWritesError with the reason (also logged as "store writes not confirmed")
 */
export async function confirmWrites(
  store: StoreWriter,
  expected: Readonly<Record<string, string>>,
  firstWait: Promise<unknown>,
  cr: StoreCR,
  options: ConfirmOptions = {},
): Promise<void> {
  const attempts = options.attempts ?? CONFIRM_ATTEMPTS;
  const backoffMs = options.backoffMs ?? CONFIRM_BACKOFF_MS;
  let lastError = await failureOf(firstWait);
  for (let attempt = 1; ; attempt++) {
    const check = await missingKeys(expected, cr, options);
    if ("unreadable" in check) {
      const tries = options.readTries ?? READ_TRIES;
      const why = `the store CR could not be read in ${tries} tries: ${describe(check.unreadable)}`;
      notConfirmed(why, Object.keys(expected), attempt, check.unreadable);
    }
    const { missing } = check;
    if (missing.length === 0) return;
    if (attempt >= attempts)
      notConfirmed(`missing ${missing.join(", ")}`, missing, attempt, lastError);
    const delayMs = backoffMs * 2 ** (attempt - 1);
    Log.warn(
      { missing, attempt, delayMs, lastError: describe(lastError) },
      "re-writing store keys",
    );
    await sleep(delayMs);
    const results = await Promise.allSettled(
      missing.map(key => store.setItemAndWait(key, expected[key])),
    );
    const failed = results.find(r => r.status === "rejected");
    lastError = failed?.status === "rejected" ? failed.reason : undefined;
  }
}

/** Logs "store writes not confirmed" and throws. */
function notConfirmed(reason: string, missing: string[], attempts: number, cause: unknown): never {
  Log.error(
    { reason, missing, attempts, lastError: describe(cause) },
    "store writes not confirmed",
  );
  throw new UnconfirmedWritesError(reason, missing, attempts, cause);
}

/**
 * The keys of `expected` whose value the store CR does not hold (all of them when the CR is
 * missing: it is re-created), or why the CR could not be read.
 */
async function missingKeys(
  expected: Readonly<Record<string, string>>,
  cr: StoreCR,
  options: ConfirmOptions,
): Promise<{ missing: string[] } | { unreadable: unknown }> {
  const keys = Object.keys(expected);
  let persisted: Record<string, string> | null;
  try {
    persisted = await readWithRetries(cr, options);
  } catch (err) {
    return { unreadable: err };
  }
  if (persisted !== null) return { missing: keys.filter(key => persisted[key] !== expected[key]) };
  try {
    await cr.createStore();
  } catch (err) {
    Log.warn({ err: describe(err) }, "store CR could not be re-created");
  }
  return { missing: keys };
}

/** cr.readPersisted(), tried up to `readTries` times with doubling pauses. */
async function readWithRetries(
  cr: StoreCR,
  options: ConfirmOptions,
): Promise<Record<string, string> | null> {
  const tries = options.readTries ?? READ_TRIES;
  const pauseMs = options.readPauseMs ?? READ_RETRY_PAUSE_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await cr.readPersisted();
    } catch (err) {
      if (attempt >= tries) throw err;
      const delayMs = pauseMs * 2 ** (attempt - 1);
      Log.warn({ err: describe(err), attempt, delayMs }, "store CR could not be read: retrying");
      await sleep(delayMs);
    }
  }
}

/** A request to the API server about a store CR failed; `status` when it had an answer. */
export class StoreRequestError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "StoreRequestError";
  }
}

/** What kubernetes-fluent-client's fetch resolves with (fetch.ts FetchResponse). */
type FetchResponse = Awaited<ReturnType<typeof fetch<kind.GenericKind>>>;

/**
 * One request about the store CR `name`, the way K8s(...).Get/Create make it, aborted after
 * `timeoutMs`.
 */
async function storeRequest(
  method: "GET" | "POST",
  name: string,
  timeoutMs: number,
  body?: kind.GenericKind,
): Promise<FetchResponse> {
  const { opts, serverUrl } = await k8sCfg(method as FetchMethods);
  const filters = { namespace: STORE_NAMESPACE, name, kindOverride: PEPR_STORE_GVK };
  const url = pathBuilder(`${serverUrl}`, kind.GenericKind, filters, method === "POST");
  return fetch<kind.GenericKind>(url, {
    ...(opts as object),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(timeoutMs),
  });
}

/** The HTTP status of an answer, `undefined` when there was none (network error, timeout). */
export function httpStatus(response: FetchResponse): number | undefined {
  return response.e === undefined ? response.status : undefined;
}

/** A failed request as an Error saying what was asked and what happened. */
function requestError(
  request: string,
  response: FetchResponse,
  timeoutMs: number,
): StoreRequestError {
  const status = httpStatus(response);
  const e = response.e as { name?: unknown; cause?: unknown } | undefined;
  let what: string;
  if (status !== undefined) {
    const said = (response.data as { message?: unknown } | undefined)?.message;
    what = `HTTP ${status} ${response.statusText}${typeof said === "string" ? `: ${said}` : ""}`;
  } else if (e?.name === "TimeoutError") {
    what = `no answer within ${timeoutMs} ms`;
  } else {
    what = describe(e?.cause ?? e) ?? "no answer";
  }
  return new StoreRequestError(`${request}: ${what}`, status, { cause: response.e ?? response });
}

/**
 * Reads a capability's keys from the store CR on the API server, with the `<capability>-v2-`
 * prefix removed (as Store.getItem sees them).
 *
 * @param name - the CR name, `pepr-<uuid>-store`
 * @param capability - the capability whose keys to return
 * @param timeoutMs - abort the request after this long (default {@link API_REQUEST_TIMEOUT_MS})
 * @returns the keys and values, or `null` when the CR does not exist
 * @throws StoreRequestError when the CR cannot be read for another reason (with the status, if any)
 */
export async function readPersisted(
  name: string,
  capability: string,
  timeoutMs = API_REQUEST_TIMEOUT_MS,
): Promise<Record<string, string> | null> {
  const response = await storeRequest("GET", name, timeoutMs);
  if (!response.ok) {
    if (httpStatus(response) === 404) return null;
    throw requestError(`get PeprStore ${name} in ${STORE_NAMESPACE}`, response, timeoutMs);
  }
  const prefix = keyPrefix(capability);
  const data = (response.data.data ?? {}) as Record<string, string>;
  return Object.fromEntries(
    Object.entries(data)
      .filter(([key]) => key.startsWith(prefix))
      .map(([key, value]) => [key.slice(prefix.length), value]),
  );
}

/**
 * Creates the store CR with Pepr's placeholder, as Pepr's StoreController does at start-up. A CR
 * created by someone else in the meantime (409) is fine.
 *
 * @param name - the CR name, `pepr-<uuid>-store`
 * @param timeoutMs - abort the request after this long (default {@link API_REQUEST_TIMEOUT_MS})
 * @throws StoreRequestError when it cannot be created
 */
export async function createStore(name: string, timeoutMs = API_REQUEST_TIMEOUT_MS): Promise<void> {
  Log.warn({ name, namespace: STORE_NAMESPACE }, "store CR missing: creating it again");
  const response = await storeRequest("POST", name, timeoutMs, {
    apiVersion: `${PEPR_STORE_GVK.group}/${PEPR_STORE_GVK.version}`,
    kind: PEPR_STORE_GVK.kind,
    metadata: {
      name,
      namespace: STORE_NAMESPACE,
      labels: { [CACHE_ID_LABEL]: `${Date.now()}` },
    },
    data: { ...PLACEHOLDER },
  } as kind.GenericKind);
  if (response.ok || httpStatus(response) === 409) return;
  throw requestError(`create PeprStore ${name} in ${STORE_NAMESPACE}`, response, timeoutMs);
}

async function failureOf(wait: Promise<unknown>): Promise<unknown> {
  try {
    await wait;
    return undefined;
  } catch (err) {
    return err;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

/** Pepr rejects with strings; errors (of any realm: undici's are not this realm's Error) keep their message. */
function describe(err: unknown): string | undefined {
  if (err === undefined) return undefined;
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === "string" ? message : String(err);
}
