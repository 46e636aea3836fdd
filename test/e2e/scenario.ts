// What the e2e files share: one control plane + watcher per scenario, and the capability's
// expected keys and values written out literally, so a change to the capability fails the tests
// (where and how Pepr stores them comes from store/contract.ts, checked against Pepr by
// test/unit/contract.test.ts).
import {
  auditLog,
  type AuditEvent,
  ControlPlane,
  LogRecord,
  MODULE_NAMESPACE,
  ModuleOptions,
  ModuleProcess,
  startControlPlane,
  startModule,
  storePatches,
  waitFor,
} from "../../cluster";
import { CACHE_ID_LABEL, keyPrefix, PLACEHOLDER } from "../../store/contract";

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
/** Deadline for "observed": 4 s flush + 1 s watch debounce, with room for a slow machine. */
export const OBSERVED_TIMEOUT_MS = 30_000;

export { MODULE_NAMESPACE };

export interface Scenario {
  cp: ControlPlane;
  mod: ModuleProcess;
  stop(): Promise<void>;
}

/** Starts a control plane and the watcher; `stop()` stops both and reports every error. */
export async function startScenario(options: ModuleOptions = {}): Promise<Scenario> {
  const cp = await startControlPlane();
  let mod: ModuleProcess;
  try {
    mod = await startModule(cp, options);
  } catch (err) {
    await cp.stop();
    throw err;
  }
  return {
    cp,
    mod,
    stop: async () => {
      const results = await Promise.allSettled([mod.stop()]);
      results.push(...(await Promise.allSettled([cp.stop()])));
      const errors = results.filter(r => r.status === "rejected").map(r => r.reason);
      if (errors.length > 0) throw new AggregateError(errors, "stopping the scenario failed");
    },
  };
}

/** The `observed` log records so far. */
export function observedRecords(mod: ModuleProcess): LogRecord[] {
  return mod.logs.filter(r => r.msg === "observed");
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
    OBSERVED_TIMEOUT_MS,
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
