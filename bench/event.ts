// One benchmark event on a running control plane and watcher: reset the store from outside,
// create ConfigMap observe, and time every step until "observed" from the API server's audit log
// and the watcher's log records (one machine, one clock).
import { createHash } from "node:crypto";

import * as cluster from "../cluster";
import type { LogRecord } from "../cluster";
import { MODULE_CAPABILITIES } from "../store/capabilities";
import * as contract from "../store/contract";
import { round } from "./shared";

/** Pepr 1.1.4 stores the capability's key `k` as `<capability>-v2-k` in the CR. */
export const KEY_PREFIX = contract.keyPrefix(MODULE_CAPABILITIES[0]);
/** The keys the capability writes when observe is created. */
const WRITES = ["a", "b", "c", "https://observed"];
const [OBSERVE, NAMESPACE] = ["observe", cluster.MODULE_NAMESPACE];
/** Watcher log messages the benchmark times (Pepr 1.1.4's controller and the capability). */
const MSG = {
  observed: "observed",
  storeUpdate: "Pepr Store update", // a PeprStore watch event, before the receive debounce
  flush: "Sending updates to Pepr store", // the flush interval fired with writes queued
  added: "Watch event ADDED received", // before the callback runs
  deleted: "Watch event DELETED received",
} as const;
/** Deadline of every wait that is not an event (a record of the watcher, a pod going). */
export const STEP_TIMEOUT_MS = 60_000;
/** Bytes of a prefill key (before the capability's prefix) and of its value (a SHA-256). */
export const PREFILL_KEY_BYTES = 40;
export const PREFILL_VALUE_BYTES = 64;

/** One event: every time is ms since the epoch, absent when that step did not happen. */
export interface EventRun {
  ok: boolean;
  error?: string;
  /** "observed" came after the watcher's PATCH, which succeeded: it followed a real write. */
  fresh: boolean;
  spawnAt: number; // kubectl create started
  createdAt?: number; // the API server received the create (audit log): time zero
  addedAt?: number; // the watcher received the ADDED event
  flushAt?: number; // Pepr's flush interval fired with the writes queued
  patchReceivedAt?: number; // the API server received the watcher's PATCH (audit log)
  patchDoneAt?: number; // ... and completed it: the four keys are in the CR
  patchCode?: number;
  peprUpdateAt?: number; // the watcher logged the CR it patched ("Pepr Store update")
  observedAt?: number;
  /** Over this run's window (up to the next create): the watcher's PATCHes and calls. */
  patches?: number;
  patchCodes?: number[];
  calls?: Record<string, number>;
}

/** Per-run durations in ms, each between two times of a run; the five after `observed` add up. */
const SPANS = {
  persisted: ["createdAt", "patchDoneAt"], // create → the four keys in the CR
  observed: ["createdAt", "observedAt"],
  toCallback: ["createdAt", "addedAt"],
  waitFlush: ["addedAt", "flushAt"],
  flushToPatch: ["flushAt", "patchReceivedAt"],
  deliveryPepr: ["patchReceivedAt", "peprUpdateAt"], // the watcher has the CR
  debounce: ["peprUpdateAt", "observedAt"], // receive debounce and the callback's check
  patchServer: ["patchReceivedAt", "patchDoneAt"], // the PATCH at the API server
} as const satisfies Record<string, [keyof EventRun, keyof EventRun]>;
export type BreakdownKey = keyof typeof SPANS;
export const BREAKDOWN = Object.keys(SPANS) as BreakdownKey[];
export type TimedRun = EventRun & { ms: Partial<Record<BreakdownKey, number>> };

export function durations(r: EventRun): TimedRun["ms"] {
  const span = ([a, b]: readonly [keyof EventRun, keyof EventRun]) => {
    const [from, to] = [r[a], r[b]];
    return typeof from === "number" && typeof to === "number" ? round(to - from) : undefined;
  };
  return Object.fromEntries(BREAKDOWN.map(k => [k, span(SPANS[k])]));
}

export function timed(r: EventRun): TimedRun {
  return { ...r, ms: durations(r) };
}

/** The resourceVersion of the store `name` in a "Pepr Store update" record, or -1. */
function storeRV(r: LogRecord, name: string): number {
  const meta = r.metadata as { name?: string; resourceVersion?: string } | undefined;
  return r.msg === MSG.storeUpdate && meta?.name === name ? Number(meta.resourceVersion) : -1;
}

const uidOf = (r: LogRecord) => (r.metadata as { uid?: string } | undefined)?.uid;

/**
 * Phases (ms after a flush tick) for `n` events: one uniformly random phase in each of `n` equal
 * slices of the flush interval, shuffled, so that the events sample the interval evenly as
 * independent events would; otherwise each run would start at about the same phase.
 */
function stratifiedPhases(n: number): number[] {
  const slice = contract.FLUSH_INTERVAL_MS / n;
  const phases = Array.from({ length: n }, (_, i) => (i + Math.random()) * slice);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [phases[i], phases[j]] = [phases[j], phases[i]];
  }
  return phases;
}

/** The running system the benchmark drives: control plane, watcher, audit log, store. */
export class Bench {
  #observeUid?: string;
  readonly store = contract.storeName();

  constructor(
    readonly cp: cluster.ControlPlane,
    readonly mod: cluster.ModuleProcess,
    readonly audit: cluster.AuditTail,
  ) {}

  /** Deletes observe if a run created it, and waits until the watcher saw it go. */
  async deleteObserve(): Promise<void> {
    const uid = this.#observeUid;
    if (!uid) return;
    const observe = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: OBSERVE, namespace: NAMESPACE },
    };
    await cluster.deleteObject(this.cp, observe);
    this.#observeUid = undefined;
    // The binding reacts to CREATE only: DELETED is logged, then filtered out (no store write).
    const gone = (r: LogRecord) => r.msg === MSG.deleted && uidOf(r) === uid;
    await this.mod.waitForLog(`"${MSG.deleted}" for ${uid}`, gone, STEP_TIMEOUT_MS);
  }

  /** Removes the four keys (a merge patch: null deletes); returns the resourceVersion. */
  resetCapabilityKeys(): Promise<number> {
    const data = Object.fromEntries(WRITES.map(k => [KEY_PREFIX + k, null]));
    return this.#patch({ data }, "merge");
  }

  /** Replaces the whole `data` with the placeholder; returns the resourceVersion. */
  resetAll(): Promise<number> {
    const ops = [{ op: "replace", path: "/data", value: contract.PLACEHOLDER }];
    return this.#patch(ops, "json");
  }

  /** Patches the store; returns its resourceVersion after the patch. */
  async #patch(patch: object, strategy: "json" | "merge"): Promise<number> {
    const patched = await cluster.patchStore(this.cp, { name: this.store }, patch, strategy);
    return Number(patched.metadata.resourceVersion);
  }

  /** The store's size as compact JSON, managedFields included, as the API server sends it. */
  async objectBytes(): Promise<number> {
    const store = await cluster.readStoreAsSent(this.cp, { name: this.store });
    return Buffer.byteLength(JSON.stringify(store));
  }

  /**
   * Adds the prefill entries [from, from + count) in one merge patch, from a file (too large for
   * an argument): 40-byte keys with a SHA-256 as value, both deterministic.
   */
  async addKeys(from: number, count: number): Promise<{ rv: number } | { error: string }> {
    const data: Record<string, string> = {};
    for (let i = from; i < from + count; i++) {
      const key = `bench/item-${String(i).padStart(8, "0")}-`.padEnd(PREFILL_KEY_BYTES, "k");
      data[KEY_PREFIX + key] = createHash("sha256").update(key).digest("hex");
    }
    return this.#patch({ data }, "merge").then(
      rv => ({ rv }),
      (err: Error) => ({ error: err.message }),
    );
  }

  /**
   * Waits until the watcher saw resourceVersion `rv`; returns the time after which its receive
   * debounce for it has certainly fired.
   */
  async settle(rv: number): Promise<number> {
    const seen = (r: LogRecord) => storeRV(r, this.store) >= rv;
    const rec = await this.mod.waitForLog(`"${MSG.storeUpdate}" at ${rv}`, seen, STEP_TIMEOUT_MS);
    return rec.time + contract.RECEIVE_DEBOUNCE_MS + 200;
  }

  /** Milliseconds until `phaseMs` after a flush tick (the last one logged), not before `earliest`. */
  #delayFor(phaseMs: number | undefined, earliest: number): number {
    const now = Date.now();
    const start = Math.max(now, earliest);
    if (phaseMs === undefined) return start - now;
    let t = (this.mod.logs.filter(r => r.msg === MSG.flush).at(-1)?.time ?? start) + phaseMs;
    while (t < start) t += contract.FLUSH_INTERVAL_MS;
    return t - now;
  }

  /**
   * `runs` events at stratified phases, then each one's PATCHes and calls from the audit log,
   * from its create to the next one's (the last: one flush interval more, for late PATCHes).
   */
  async runEvents(runs: number, report: (i: number, run: EventRun) => void): Promise<EventRun[]> {
    const out: EventRun[] = [];
    for (const phase of stratifiedPhases(runs)) {
      out.push(await this.runEvent(phase));
      report(out.length, out[out.length - 1]);
    }
    await cluster.sleep(contract.FLUSH_INTERVAL_MS + 500);
    out.forEach((run, i) => {
      const to = out[i + 1]?.spawnAt ?? Date.now();
      const patches = cluster.watcherPatches(this.audit, this.store, run.spawnAt, to);
      run.patches = patches.length;
      run.patchCodes = patches.map(p => p.responseStatus?.code ?? 0);
      const calls = cluster.watcherCalls(this.audit, run.spawnAt, to);
      run.calls = Object.fromEntries(calls.map(c => [`${c.verb} ${c.path}`, c.count]));
    });
    return out;
  }

  /**
   * One event: delete observe, reset the four keys, wait until the watcher has the reset and for
   * the aimed phase, create observe, then wait for "observed".
   */
  async runEvent(phaseMs?: number): Promise<EventRun> {
    await this.deleteObserve();
    const resetRV = await this.resetCapabilityKeys();
    await cluster.sleep(this.#delayFor(phaseMs, await this.settle(resetRV)));
    const logsFrom = this.mod.logs.length;
    const run: EventRun = { ok: false, fresh: false, spawnAt: Date.now() };
    try {
      const uid = await cluster.kubectl(this.cp, [
        ...["create", "configmap", OBSERVE, "-n", NAMESPACE, "--from-literal=created=by-bench"],
        ...["-o", "jsonpath={.metadata.uid}"],
      ]);
      this.#observeUid = uid.trim();
      const observed = (r: LogRecord) => r.msg === MSG.observed && r.time >= run.spawnAt;
      const timeoutMs = contract.SET_ITEM_AND_WAIT_MS + 15_000;
      run.observedAt = (await this.mod.waitForLog(`"observed"`, observed, timeoutMs)).time;
      run.ok = true;
    } catch (err) {
      run.error = err instanceof Error ? err.message : String(err);
    }
    this.#fill(run, logsFrom, resetRV);
    // The watcher had the store without the four keys (settle), so only its own PATCH brings them.
    const patched = run.patchCode === 200 ? (run.patchReceivedAt ?? Infinity) : Infinity;
    run.fresh = run.ok && (run.observedAt ?? 0) >= patched;
    return run;
  }

  /** The steps' times from the audit log and from the watcher's records after the create. */
  #fill(run: EventRun, logsFrom: number, resetRV: number): void {
    const logs = this.mod.logs.slice(logsFrom);
    const created = (e: cluster.AuditEvent) =>
      e.verb === "create" && e.objectRef?.resource === "configmaps" && e.objectRef.name === OBSERVE;
    const create = this.audit.completed(e => created(e) && e.receivedMs >= run.spawnAt)[0];
    run.createdAt = create?.receivedMs;
    run.addedAt = logs.find(r => r.msg === MSG.added && uidOf(r) === this.#observeUid)?.time;
    const from = run.addedAt ?? run.spawnAt;
    run.flushAt = logs.find(r => r.msg === MSG.flush && r.time >= from)?.time;
    const patch = cluster.watcherPatches(this.audit, this.store, run.spawnAt)[0];
    [run.patchReceivedAt, run.patchDoneAt] = [patch?.receivedMs, patch?.stageMs];
    run.patchCode = patch?.responseStatus?.code;
    run.peprUpdateAt = logs.find(r => storeRV(r, this.store) > resetRV)?.time;
  }
}
