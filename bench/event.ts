// One benchmark event and the store manipulations around it, on a running control plane + watcher:
// reset the store from outside, create ConfigMap observe, and time every step until "observed".
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import {
  AuditTail,
  kubectl,
  kubectlRun,
  MODULE_NAMESPACE,
  sleep,
  watcherPatches,
  type ControlPlane,
  type LogRecord,
  type ModuleProcess,
} from "../cluster";
import { keyPrefix, PLACEHOLDER, STORE_NAMESPACE } from "../store/contract";
import type { PeprTimings } from "./pepr";
import type { StoreWatch } from "./storewatch";

export const CAPABILITY = "hello-pepr-store-resources";
/** Pepr 1.1.4 stores a capability's key `k` as `<capability>-v2-k` in the CR. */
export const KEY_PREFIX = keyPrefix(CAPABILITY);
/** What Pepr puts in a new store, and what a reset leaves. */
export { PLACEHOLDER };
/** The CR keys and values the capability writes when observe is created. */
export const CAPABILITY_DATA: Record<string, string> = {
  [`${KEY_PREFIX}a`]: "1",
  [`${KEY_PREFIX}b`]: "2",
  [`${KEY_PREFIX}c`]: "3",
  [`${KEY_PREFIX}https://observed`]: "yay",
};
/** The ConfigMap whose creation runs the capability. */
export const OBSERVE = "observe";

/** Watcher log messages the benchmark times (Pepr 1.1.4 and the capability). */
export const MSG = {
  observed: "observed",
  storeUpdate: "Pepr Store update", // controller/store.ts #receive, before the 1 s debounce
  flush: "Sending updates to Pepr store", // controller/store.ts, the 4 s interval with writes queued
  added: "Watch event ADDED received", // processors/watch-processor.ts, before the callback runs
  deleted: "Watch event DELETED received",
  callbackError: "Error executing watch callback", // processors/watch-processor.ts, callback threw
} as const;

/**
 * A record that ends a failed watch callback: Pepr logs `Log.error(e, "Error executing watch
 * callback")`; when `e` is a string (setItemAndWait's rejection) pino takes it as the message.
 */
export function isCallbackFailure(r: LogRecord): boolean {
  return (
    r.level >= 50 && (r.msg === MSG.callbackError || r.msg.startsWith("MAX_WAIT_TIME elapsed"))
  );
}

/** Deadline for a callback that is expected to fail: the capability re-writes and waits again. */
export const FAILURE_TIMEOUT_MS = 180_000;

/** Deadline of every wait that is not an event (a kubectl call, a watch catching up). */
export const STEP_TIMEOUT_MS = 60_000;
/** Margin after the watcher's receive debounce before an event counts as starting clean. */
const SETTLE_MARGIN_MS = 200;
/** Length of a prefill key (before the `<capability>-v2-` prefix) and of its value, bytes. */
export const PREFILL_KEY_BYTES = 40;
export const PREFILL_VALUE_BYTES = 64;

/** A watcher error record, reduced to what the report shows. */
export interface ErrorRecord {
  time: number;
  msg: string;
  /** The record without pino's level/time/pid/hostname, as JSON, cut at 2000 characters. */
  detail: string;
}

/** One event: every time is ms since the epoch; absent when that step did not happen. */
export interface EventRun {
  ok: boolean;
  error?: string;
  /** The store lacked the four keys right before the create and they came back from this PATCH. */
  fresh: boolean;
  /** The phase of the flush interval this run aimed at (ms after a flush tick). */
  targetPhaseMs?: number;
  /** kubectl create started. */
  spawnAt: number;
  /** The API server received the create (audit log): the event's time zero. */
  createdAt?: number;
  /** The API server completed the create (audit log). */
  createDoneAt?: number;
  /** The watcher received the ADDED event ("Watch event ADDED received"). */
  addedAt?: number;
  /** Pepr's flush interval fired with the writes queued ("Sending updates to Pepr store"). */
  flushAt?: number;
  /** The API server received / completed the watcher's PATCH (audit log). */
  patchReceivedAt?: number;
  patchDoneAt?: number;
  patchCode?: number;
  /** The benchmark's watch received the CR with all four keys. */
  visibleAt?: number;
  visibleRV?: number;
  /** Size of that CR as the API server sent it, bytes. */
  objectBytes?: number;
  /** The watcher logged the CR with the four keys ("Pepr Store update"). */
  peprUpdateAt?: number;
  /** The watcher logged "observed". */
  observedAt?: number;
  /** How the callback ended (as far as the run waited) and when. */
  outcome?: "observed" | "failed";
  endedAt?: number;
  /** The watcher's PATCHes to the store in this run's window, and their status codes. */
  patches?: number;
  patchCodes?: number[];
  /** Every API call of the watcher in this run's window, "<verb> <path>" → count. */
  calls?: Record<string, number>;
  /** Watcher records with level >= 50 (error) from the create on. */
  errors: ErrorRecord[];
}

/** The CR name's resourceVersion in a "Pepr Store update" record, or -1 for another CR. */
function storeRV(r: LogRecord, name: string): number {
  const meta = r.metadata as { name?: string; resourceVersion?: string } | undefined;
  return meta?.name === name ? Number(meta.resourceVersion ?? -1) : -1;
}

function uidOf(r: LogRecord): string | undefined {
  return (r.metadata as { uid?: string } | undefined)?.uid;
}

function toErrorRecord(r: LogRecord): ErrorRecord {
  const rest: Record<string, unknown> = { ...r };
  for (const k of ["level", "time", "pid", "hostname"]) delete rest[k];
  return { time: r.time, msg: r.msg, detail: JSON.stringify(rest).slice(0, 2000) };
}

/** The i-th prefill key and value: a 40-byte key and a 64-hex-digit value (a SHA-256), both deterministic. */
export function prefillEntry(i: number): [string, string] {
  const key = `bench/item-${String(i).padStart(8, "0")}-`.padEnd(PREFILL_KEY_BYTES, "k");
  const value = createHash("sha256").update(key).digest("hex").slice(0, PREFILL_VALUE_BYTES);
  return [`${KEY_PREFIX}${key}`, value];
}

/** The running system the benchmark drives. */
export class Bench {
  #observeUid?: string;
  readonly #tmp = path.join(os.tmpdir(), `hpsr-bench-patch-${process.pid}.json`);

  constructor(
    readonly cp: ControlPlane,
    readonly mod: ModuleProcess,
    readonly watch: StoreWatch,
    readonly audit: AuditTail,
    readonly timings: PeprTimings,
    readonly store: string,
  ) {}

  /** Deletes observe if a run created it, and waits until the watcher saw it go. */
  async deleteObserve(): Promise<void> {
    const uid = this.#observeUid;
    if (!uid) return;
    await kubectl(this.cp, ["delete", "configmap", OBSERVE, "-n", MODULE_NAMESPACE]);
    this.#observeUid = undefined;
    // The binding reacts to CREATE only: the DELETED event is logged and filtered out.
    await this.mod.waitForLog(
      `watcher "${MSG.deleted}" for observe ${uid}`,
      r => r.msg === MSG.deleted && uidOf(r) === uid,
      STEP_TIMEOUT_MS,
    );
  }

  /**
   * Removes the capability's four keys with a JSON merge patch (null deletes a key, an absent key
   * is no error), leaving the placeholder and any prefill.
   *
   * @returns the store's resourceVersion afterwards
   */
  async resetCapabilityKeys(): Promise<number> {
    const patch = { data: Object.fromEntries(Object.keys(CAPABILITY_DATA).map(k => [k, null])) };
    return this.#patch("merge", JSON.stringify(patch));
  }

  /** Replaces the whole `data` with the placeholder (JSON patch); returns the resourceVersion. */
  async resetAll(): Promise<number> {
    return this.#patch(
      "json",
      JSON.stringify([{ op: "replace", path: "/data", value: PLACEHOLDER }]),
    );
  }

  async #patch(type: "merge" | "json", body: string): Promise<number> {
    const out = await kubectl(this.cp, [
      "patch",
      "peprstore",
      this.store,
      "-n",
      STORE_NAMESPACE,
      `--type=${type}`,
      "-p",
      body,
      "-o",
      "jsonpath={.metadata.resourceVersion}",
    ]);
    return Number(out.trim());
  }

  /**
   * Adds the prefill entries [from, from + count) in one JSON merge patch (from a file: the body
   * is too large for a command-line argument).
   *
   * @returns the resourceVersion, or kubectl's error when the API server rejected the patch
   */
  async addKeys(
    from: number,
    count: number,
  ): Promise<{ ok: true; rv: number; ms: number } | { ok: false; error: string; ms: number }> {
    const data: Record<string, string> = {};
    for (let i = from; i < from + count; i++) {
      const [k, v] = prefillEntry(i);
      data[k] = v;
    }
    writeFileSync(this.#tmp, JSON.stringify({ data }));
    const started = Date.now();
    const result = await kubectlRun(this.cp, [
      "patch",
      "peprstore",
      this.store,
      "-n",
      STORE_NAMESPACE,
      "--type=merge",
      `--patch-file=${this.#tmp}`,
      "-o",
      "jsonpath={.metadata.resourceVersion}",
    ]);
    const ms = Date.now() - started;
    if (result.code !== 0) return { ok: false, error: result.stderr.trim(), ms };
    return { ok: true, rv: Number(result.stdout.trim()), ms };
  }

  /**
   * Waits until the benchmark's watch and the watcher both saw resourceVersion `rv`.
   *
   * @returns the time after which the watcher's receive debounce for it has certainly fired
   */
  async settle(rv: number): Promise<number> {
    await this.watch.waitFor(
      `bench watch at resourceVersion ${rv}`,
      e => e.resourceVersion >= rv,
      STEP_TIMEOUT_MS,
    );
    const rec = await this.mod.waitForLog(
      `watcher "${MSG.storeUpdate}" at resourceVersion ${rv}`,
      r => r.msg === MSG.storeUpdate && storeRV(r, this.store) >= rv,
      STEP_TIMEOUT_MS,
    );
    return rec.time + this.timings.receiveDebounceMs + SETTLE_MARGIN_MS;
  }

  /** Time of the last flush tick that sent something (Pepr's interval logs only those). */
  lastFlushTick(): number | undefined {
    for (let i = this.mod.logs.length - 1; i >= 0; i--) {
      if (this.mod.logs[i].msg === MSG.flush) return this.mod.logs[i].time;
    }
    return undefined;
  }

  /** Milliseconds to wait so that the create starts `phaseMs` after a flush tick, not before `earliest`. */
  #delayFor(phaseMs: number | undefined, earliest: number): number {
    const now = Date.now();
    const start = Math.max(now, earliest);
    if (phaseMs === undefined) return start - now;
    const tick = this.lastFlushTick();
    if (tick === undefined) return start - now + phaseMs;
    let t = tick + phaseMs;
    while (t < start) t += this.timings.flushIntervalMs;
    return t - now;
  }

  /**
   * One event: delete observe (if there), reset the capability's keys, wait until the watcher's
   * in-memory store has the reset, wait for the aimed phase of the flush interval, create
   * observe, and wait for the four keys in the CR and for "observed" (or, with `expectFailure`,
   * for the callback to end either way: `ok` then means it ended within the deadline).
   */
  async runEvent(phaseMs?: number, expectFailure = false): Promise<EventRun> {
    await this.deleteObserve();
    const rv = await this.resetCapabilityKeys();
    const earliest = await this.settle(rv);
    await sleep(this.#delayFor(phaseMs, earliest));

    const watchFrom = this.watch.events.length;
    const logsFrom = this.mod.logs.length;
    const eventTimeoutMs = this.timings.maxWaitMs + 15_000;
    const spawnAt = Date.now();
    const run: EventRun = { ok: false, fresh: false, spawnAt, errors: [], targetPhaseMs: phaseMs };
    try {
      const uid = await kubectl(this.cp, [
        "create",
        "configmap",
        OBSERVE,
        "-n",
        MODULE_NAMESPACE,
        "--from-literal=created=by-bench",
        "-o",
        "jsonpath={.metadata.uid}",
      ]);
      this.#observeUid = uid.trim();
      if (expectFailure) await this.#untilCallbackEnds(run, logsFrom);
      else await this.#untilObserved(run, watchFrom, logsFrom, eventTimeoutMs);
      run.ok = true;
    } catch (err) {
      run.error = err instanceof Error ? err.message : String(err);
    }
    this.#fill(run, watchFrom, logsFrom);
    return run;
  }

  /**
   * Waits for the end of the callback, whichever way it ends: the capability retries on its own
   * (capabilities/confirm-writes.ts).
   */
  async #untilCallbackEnds(run: EventRun, logsFrom: number): Promise<void> {
    const end = await this.mod.waitForLog(
      `the watcher's callback to end ("observed" or "${MSG.callbackError}")`,
      r => (r.msg === MSG.observed || isCallbackFailure(r)) && this.mod.logs.indexOf(r) >= logsFrom,
      FAILURE_TIMEOUT_MS,
    );
    run.endedAt = end.time;
    run.outcome = end.msg === MSG.observed ? "observed" : "failed";
    if (run.outcome === "observed") run.observedAt = end.time;
  }

  /** Waits for the four keys in the CR (the benchmark's watch), then for "observed". */
  async #untilObserved(
    run: EventRun,
    watchFrom: number,
    logsFrom: number,
    timeoutMs: number,
  ): Promise<void> {
    const visible = await this.watch.waitFor(
      "the four keys in the CR",
      e => e.all,
      timeoutMs,
      watchFrom,
    );
    run.visibleAt = visible.receivedAt;
    run.visibleRV = visible.resourceVersion;
    run.objectBytes = visible.objectBytes;
    const observed = await this.mod.waitForLog(
      `watcher "observed"`,
      r => r.msg === MSG.observed && this.mod.logs.indexOf(r) >= logsFrom,
      timeoutMs,
    );
    run.observedAt = observed.time;
    run.endedAt = observed.time;
    run.outcome = "observed";
  }

  /** Fills in the steps from the watcher's log, the audit log and the watch. */
  #fill(run: EventRun, watchFrom: number, logsFrom: number): void {
    const logs = this.mod.logs.slice(logsFrom);
    const uid = this.#observeUid;
    const create = this.audit.completed(
      e =>
        e.verb === "create" &&
        e.objectRef?.resource === "configmaps" &&
        e.objectRef.name === OBSERVE &&
        e.receivedMs >= run.spawnAt,
    )[0];
    run.createdAt = create?.receivedMs;
    run.createDoneAt = create?.stageMs;
    run.addedAt = logs.find(r => r.msg === MSG.added && uidOf(r) === uid)?.time;
    run.flushAt = logs.find(
      r => r.msg === MSG.flush && r.time >= (run.addedAt ?? run.spawnAt),
    )?.time;
    const patch = watcherPatches(this.audit, this.store, run.spawnAt)[0];
    run.patchReceivedAt = patch?.receivedMs;
    run.patchDoneAt = patch?.stageMs;
    run.patchCode = patch?.responseStatus?.code;
    if (run.visibleRV !== undefined) {
      const rv = run.visibleRV;
      run.peprUpdateAt = logs.find(
        r => r.msg === MSG.storeUpdate && storeRV(r, this.store) >= rv,
      )?.time;
    }
    run.errors = logs.filter(r => r.level >= 50).map(toErrorRecord);
    // Fresh: the last state the watch saw before the create lacked all four keys, and the state
    // with them came after the API server received the watcher's PATCH. (Not "completed": the
    // audit log's completion time is taken after the response is written, and the watch event
    // can go out a millisecond before that.)
    const before = this.watch.events[watchFrom - 1];
    run.fresh =
      run.ok &&
      before?.none === true &&
      run.visibleAt !== undefined &&
      run.patchReceivedAt !== undefined &&
      run.visibleAt >= run.patchReceivedAt &&
      (run.observedAt ?? 0) >= run.patchReceivedAt;
  }
}
