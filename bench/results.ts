// The shape of bench/results.json, and the per-run durations derived from an event's timestamps.
import { type CallCount } from "../cluster";
import type { PeprTimings } from "./pepr";
import type { Machine, ProcSample } from "./proc";
import type { ErrorRecord, EventRun } from "./event";
import { round, Summary } from "./stats";

/** Per-run durations in ms, from the event's timestamps. */
export interface Durations {
  /** create received → the four keys visible in the CR (benchmark's watch). */
  persisted?: number;
  /** create received → "observed" logged. */
  observed?: number;
  /** create received → the watcher received the ADDED event. */
  toCallback?: number;
  /** ADDED received → the flush interval fired. */
  waitFlush?: number;
  /** flush fired → the API server received the PATCH. */
  flushToPatch?: number;
  /** the API server's time for the PATCH (received → completed). */
  patchServer?: number;
  /** PATCH received → the benchmark's watch received the CR with the four keys. */
  deliveryBench?: number;
  /** PATCH received → the watcher logged that CR ("Pepr Store update"). */
  deliveryPepr?: number;
  /** "Pepr Store update" → "observed": the receive debounce and the callback's resolution. */
  debounce?: number;
}

/** The durations of one event; they chain: toCallback + waitFlush + flushToPatch + deliveryPepr + debounce = observed. */
export function durations(r: EventRun): Durations {
  const d = (a?: number, b?: number): number | undefined =>
    a !== undefined && b !== undefined ? round(b - a, 1) : undefined;
  return {
    persisted: d(r.createdAt, r.visibleAt),
    observed: d(r.createdAt, r.observedAt),
    toCallback: d(r.createdAt, r.addedAt),
    waitFlush: d(r.addedAt, r.flushAt),
    flushToPatch: d(r.flushAt, r.patchReceivedAt),
    patchServer: d(r.patchReceivedAt, r.patchDoneAt),
    deliveryBench: d(r.patchReceivedAt, r.visibleAt),
    deliveryPepr: d(r.patchReceivedAt, r.peprUpdateAt),
    debounce: d(r.peprUpdateAt, r.observedAt),
  };
}

export type BreakdownKey = keyof Durations;

export interface ScaleStep {
  keys: number;
  /** Keys actually prefilled (less than `keys` when a prefill PATCH was rejected). */
  storedKeys: number;
  prefillMs: number;
  prefillPatches: number;
  /** The prefill PATCH the API server rejected, if any. */
  rejected?: { attemptedKeys: number; error: string };
  /** Not run: a smaller size already hit the limit. */
  skipped?: string;
  runs: (EventRun & { ms: Durations })[];
  summary: Partial<Record<BreakdownKey, Summary>>;
  objectBytes?: number;
  watcher?: ProcSample;
}

export interface LimitResult {
  /** Most prefill keys the store held (one more was rejected). */
  maxKeys: number;
  /** Size of the CR with `maxKeys` keys, as the API server sent it on the watch. */
  maxObjectBytes?: number;
  /** kubectl's error for one key more. */
  prefillError: string;
  /** The module's event with the store full. */
  event: EventRun & { ms: Durations };
  /** Over the event and two more flush intervals: the watcher's PATCHes, status and JSON body. */
  patches: { code: number; afterCreateMs: number; body: string }[];
  /** Over the same window: every API call of the watcher. */
  calls: CallCount[];
  /** Over the same window: the watcher's warnings (40) and errors (50). */
  records: (ErrorRecord & { level: number })[];
  /** After resetting the store to the placeholder: does the next event work again? */
  recovery: EventRun & { ms: Durations; patchCodesAfter: number[] };
  /** Bisection steps: key count tried and whether it was accepted. */
  steps: { keys: number; ok: boolean }[];
}

export interface Results {
  date: string;
  command: string;
  config: { runs: number; scale: number[]; scaleRuns: number; prefillChunk: number };
  machine: Machine;
  /** The module's git commit and uncommitted changes to pepr.ts, capabilities/, package.json. */
  module: { commit: string; dirty: string[] };
  pepr: PeprTimings;
  designBoundMs: number;
  load: { start: number; end: number; min: number; max: number; mean: number; samples: number };
  wallSeconds: number;
  controlPlane: {
    buildCheckSeconds: number;
    startWallSeconds: number;
    readyLineStartSeconds?: number;
    peakRssBytes?: number;
    cpuSeconds?: number;
  };
  watcher: {
    startWallSeconds: number;
    startupCalls: CallCount[];
    startupGetListWatch: number;
    startupAllCalls: number;
    afterStartup: ProcSample;
    afterLatency: ProcSample;
    end: ProcSample;
  };
  latency: {
    runs: (EventRun & { ms: Durations })[];
    failures: number;
    notFresh: number;
    summary: Partial<Record<BreakdownKey, Summary>>;
    patchesPerEvent: { mean: number; min: number; max: number; counts: Record<string, number> };
    /** Every call the watcher made per event ("<verb> <path>"), from the same windows. */
    callsPerEvent?: Record<string, { min: number; max: number; mean: number }>;
    ratio: { median: number; p95: number; max: number };
  };
  scale: ScaleStep[];
  prefill: { keyBytes: number; valueBytes: number; storedKeyBytes: number };
  limit?: LimitResult;
  summary: { median_s: number; p95_s: number; ratio_to_bound: number; patches_per_event: number };
}
