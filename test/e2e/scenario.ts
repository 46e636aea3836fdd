// What the e2e files share: the watcher on the tier's shared control plane (or one of its own), and the capability's
// expected keys and values written out literally, so a change to the capability fails the tests
// (where and how Pepr stores them comes from store/contract.ts, checked against Pepr by
// test/unit/contract.test.ts).
import {
  auditLog,
  type AuditEvent,
  ControlPlane,
  ensureNamespace,
  LogRecord,
  MODULE_NAMESPACE,
  ModuleProcess,
  startControlPlane,
  deployWatcher,
  waitFor,
} from "../../cluster";
import { storePatches } from "../../cluster/audit";
import { ModuleOptions } from "../../cluster/local-watcher";
import { CACHE_ID_LABEL, FLUSH_INTERVAL_MS, keyPrefix, PLACEHOLDER } from "../../store/contract";
import { OBSERVED_DEADLINE_MS } from "../../capabilities/deadlines";
import { cleanSharedCluster } from "./shared-cluster";

export const CAPABILITY = "hello-pepr-store-resources";
export { PLACEHOLDER };
const PREFIX = keyPrefix(CAPABILITY);
/** The CR data after `observe` is created: Pepr 1.1.4 prefixes keys with `<capability>-v2-`. */
export const EXPECTED_DATA = {
  ...PLACEHOLDER,
  [`${PREFIX}a`]: "1",
  [`${PREFIX}b`]: "2",
  [`${PREFIX}c`]: "3",
  [`${PREFIX}https://observed`]: "yay",
};
/** The JSON patch operations Pepr sends for them, in order (`/` escaped as `~1` in the path). */
export const EXPECTED_OPS = [
  { op: "add", path: `/data/${PREFIX}a`, value: "1" },
  { op: "add", path: `/data/${PREFIX}b`, value: "2" },
  { op: "add", path: `/data/${PREFIX}c`, value: "3" },
  { op: "add", path: `/data/${PREFIX}https:~1~1observed`, value: "yay" },
];
/** Every Pepr store PATCH ends by stamping the flush time (storeCache.ts updateCacheID). */
export const CACHE_ID_OP = {
  op: "replace",
  path: `/metadata/labels/${CACHE_ID_LABEL}`,
  value: expect.stringMatching(/^\d{13}$/),
};
/**
 * Deadline for "observed" after observe is created: the capability's worst case (every re-write
 * and read retry, capabilities/deadlines.ts) plus the watch delivery. Usually it takes ~5 s.
 */
export const OBSERVED_TIMEOUT_MS = OBSERVED_DEADLINE_MS;
/** Deadline for the watcher to log a watch event it received. */
export const WATCH_EVENT_TIMEOUT_MS = 30_000;

export { MODULE_NAMESPACE };
/** The ConfigMap whose creation triggers the capability, to delete or change it. */
export const OBSERVE_CONFIGMAP = {
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: "observe", namespace: MODULE_NAMESPACE },
};

export interface Scenario {
  cp: ControlPlane;
  mod: ModuleProcess;
  /** Stops the watcher, and the control plane when the scenario started its own. */
  stop(): Promise<void>;
}

/**
 * Starts the watcher on the tier's shared control plane, cleaned first (no module namespace, no
 * PeprStore), or with `ownControlPlane` on a control plane of its own (for tests that stop its
 * API server). `stop()` stops what it started and reports every error.
 */
export async function startScenario(
  options: ModuleOptions & { ownControlPlane?: boolean } = {},
): Promise<Scenario> {
  const { ownControlPlane = false, ...moduleOptions } = options;
  const cp = ownControlPlane ? await startControlPlane() : await cleanSharedCluster();
  let mod: ModuleProcess;
  const modStarted = Date.now();
  try {
    mod = (await deployWatcher(cp, { mode: "local", ...moduleOptions })).logs;
    report("watcher started", Date.now() - modStarted);
  } catch (err) {
    if (ownControlPlane) await cp.stop();
    throw err;
  }
  return {
    cp,
    mod,
    stop: async () => {
      const results = await Promise.allSettled([mod.stop()]);
      if (ownControlPlane) results.push(...(await Promise.allSettled([cp.stop()])));
      const errors = results.filter(r => r.status === "rejected").map(r => r.reason);
      if (errors.length > 0) throw new AggregateError(errors, "stopping the scenario failed");
    },
  };
}

/** The capability's four keys as it names them in its "re-writing store keys" records. */
export const OBSERVE_KEYS = ["a", "b", "c", "https://observed"];

/**
 * A scenario whose watcher has synced its informers ("Scheduling processed"), with the module's
 * namespace there: an event made now reaches the capability.
 */
export async function startSyncedScenario(ownControlPlane = false): Promise<Scenario> {
  const sc = await startScenario({ ownControlPlane });
  await sc.mod.waitForLog(`watcher "Scheduling processed"`, r => r.msg === "Scheduling processed");
  await ensureNamespace(sc.cp, MODULE_NAMESPACE);
  return sc;
}

/** What a test started: its scenario, and a watcher it started again on the same control plane. */
export interface Started {
  scenario?: Scenario;
  restarted?: ModuleProcess;
}

/** Holds what each test of the file starts, and stops it after each test (restarted first). */
export function stopAfterEach(): Started {
  const started: Started = {};
  afterEach(async () => {
    await started.restarted?.stop();
    started.restarted = undefined;
    await started.scenario?.stop();
    started.scenario = undefined;
  });
  return started;
}

/** The watcher's records with this message. */
export function recordsWithMsg(mod: ModuleProcess, msg: string): LogRecord[] {
  return mod.logs.filter(r => r.msg === msg);
}

/** The `observed` log records so far. */
export function observedRecords(mod: ModuleProcess): LogRecord[] {
  return recordsWithMsg(mod, "observed");
}

/** Waits until the watcher has logged "observed" `n` times in all. */
export function waitForObserved(
  mod: ModuleProcess,
  n: number,
  timeoutMs = OBSERVED_TIMEOUT_MS,
): Promise<true> {
  return waitFor(
    `${n} watcher "observed" records`,
    () => (observedRecords(mod).length >= n ? true : undefined),
    timeoutMs,
  );
}

/** Waits for the watcher to log that it received a watch event for a ConfigMap. */
export function waitForWatchEvent(
  mod: ModuleProcess,
  phase: "ADDED" | "MODIFIED" | "DELETED",
  namespace: string,
  name: string,
): Promise<LogRecord> {
  return mod.waitForLog(
    `watcher "Watch event ${phase} received" for ${namespace}/${name}`,
    r => {
      const meta = r.metadata as { name?: string; namespace?: string } | undefined;
      return (
        r.msg === `Watch event ${phase} received` &&
        meta?.name === name &&
        meta.namespace === namespace
      );
    },
    WATCH_EVENT_TIMEOUT_MS,
  );
}

/** PATCHes to the store CR whose response completed at or after `sinceMs`. */
export function patchesSince(cp: ControlPlane, sinceMs: number): AuditEvent[] {
  return storePatches(auditLog(cp)).filter(e => Date.parse(e.stageTimestamp) >= sinceMs);
}

/** Writes a timing line to stderr: reported, never asserted. */
export function report(what: string, ms: number): void {
  process.stderr.write(`timing: ${what}: ${(ms / 1000).toFixed(2)}s\n`);
}

/** What Pepr logs (debug) on a flush tick of its 4 s interval that has writes to send. */
export const FLUSH_LOG = "Sending updates to Pepr store";
/** What Pepr logs (debug) when its PeprStore watch delivers the CR, before the 1 s debounce. */
export const STORE_UPDATE_LOG = "Pepr Store update";

/**
 * The time of the watcher's last flush tick that sent something: Pepr's interval runs from the
 * watcher's start-up, so every later tick is this time plus a multiple of the interval.
 *
 * @throws when the watcher has not flushed yet
 */
export function lastFlushTick(mod: ModuleProcess): number {
  const ticks = mod.logs.filter(r => r.msg === FLUSH_LOG);
  if (ticks.length === 0) throw new Error(`the watcher has not logged "${FLUSH_LOG}" yet`);
  return ticks[ticks.length - 1].time;
}

/**
 * The first time at or after `at` that is `phaseMs` after one of the watcher's flush ticks (as
 * bench/ aims its events).
 */
export function nextPhase(mod: ModuleProcess, at: number, phaseMs: number): number {
  const tick = lastFlushTick(mod);
  const intervals = Math.max(0, Math.ceil((at - tick - phaseMs) / FLUSH_INTERVAL_MS));
  return tick + phaseMs + intervals * FLUSH_INTERVAL_MS;
}

/** Waits until the clock reaches `time` (a point of the flush phase, see {@link nextPhase}). */
export async function waitUntil(what: string, time: number): Promise<void> {
  const deadline = time - Date.now() + 1_000;
  await waitFor(what, () => (Date.now() >= time ? true : undefined), Math.max(deadline, 1_000), 10);
}
