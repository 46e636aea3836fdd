// What proves the capability's Store writes: after its setItemAndWait, the store CR is read back
// from the API server and what is missing is written again (bounded, with backoff); a deleted CR
// is re-created as Pepr does at start-up. Why Pepr 1.1.4's own wait is not enough:
// docs/pepr-store.md, "What confirms the writes".
import { Log } from "pepr";

import {
  API_REQUEST_TIMEOUT_MS,
  CONFIRM_ATTEMPTS,
  CONFIRM_BACKOFF_MS,
  READ_RETRY_PAUSE_MS,
  READ_TRIES,
} from "./deadlines";
import { STORE_NAMESPACE, storeName } from "../store/contract";
import { createStore } from "../store/create";
import { StoreNotFoundError } from "../store/errors";
import { readStore } from "../store/read";

/** The part of Pepr's Store that confirmWrites uses. */
export interface StoreWriter {
  setItemAndWait(key: string, value: string): Promise<string>;
}

/** The store CR on the API server, as confirmWrites reads and re-creates it. */
export interface StoreCR {
  /**
   * Reads this capability's keys as the API server holds them: `null` when the store CR does
   * not exist; throws when it cannot be read.
   */
  readPersisted(): Promise<Record<string, string> | null>;
  /** Creates the store CR when readPersisted found none. */
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
      const why = `the store CR could not be read in ${tries} tries: ${messageOf(check.unreadable)}`;
      notConfirmed(why, Object.keys(expected), attempt, check.unreadable);
    }
    const { missing } = check;
    if (missing.length === 0) return;
    if (attempt >= attempts)
      notConfirmed(`missing ${missing.join(", ")}`, missing, attempt, lastError);
    const delayMs = backoffMs * 2 ** (attempt - 1);
    Log.warn(
      { missing, attempt, delayMs, lastError: messageOf(lastError) },
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
    { reason, missing, attempts, lastError: messageOf(cause) },
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
    Log.warn({ err: messageOf(err) }, "store CR could not be re-created");
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
      Log.warn({ err: messageOf(err), attempt, delayMs }, "store CR could not be read: retrying");
      await sleep(delayMs);
    }
  }
}

/**
 * The module's store CR as confirmWrites reads and re-creates it, through the store library
 * (the CLI's): each request given up after `timeoutMs`.
 *
 * @param uuid - the module's uuid (the CR is `pepr-<uuid>-store`)
 * @param capability - whose keys to read
 */
export function storeCR(
  uuid: string,
  capability: string,
  timeoutMs = API_REQUEST_TIMEOUT_MS,
): StoreCR {
  const options = { uuid, capabilities: [capability], timeoutMs };
  return {
    async readPersisted() {
      try {
        return (await readStore(options)).capabilities[capability]?.items ?? {};
      } catch (err) {
        if (err instanceof StoreNotFoundError) return null;
        throw err;
      }
    },
    async createStore() {
      Log.warn(
        { name: storeName(uuid), namespace: STORE_NAMESPACE },
        "store CR missing: creating it again",
      );
      await createStore(options);
    },
  };
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
function messageOf(err: unknown): string | undefined {
  if (err === undefined) return undefined;
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === "string" ? message : String(err);
}
