// The measurements of `npm run bench` on a running control plane and local watcher: latency of
// created → "observed" by phase, API calls per event, the watcher's cost, the store at scale and
// at its limit. ./run.ts starts the cluster, calls measure() and writes the outputs.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import * as cluster from "../cluster";
import * as contract from "../store/contract";
import * as ev from "./event";
import * as shared from "./shared";
import { progress, round, sampleProcess, summarize } from "./shared";

/** results.json: everything one run measured. */
export type Results = Awaited<ReturnType<typeof measure>>;
type Config = ReturnType<typeof readConfig>;
type Setup = ReturnType<typeof describeSetup> & { config: Config; startWallSeconds: number };

/** One prefill size of the scale phase. */
export interface ScaleStep {
  keys: number;
  storedKeys: number; // fewer than `keys` when a prefill PATCH was rejected
  prefillMs: number;
  prefillPatches: number;
  rejected?: { attemptedKeys: number; error: string };
  skipped?: string; // not run: a smaller size already hit the limit
  runs: ev.TimedRun[];
  summary?: ReturnType<typeof summarizeRuns>;
  objectBytes?: number;
  watcher?: shared.ProcSample;
}

const DESIGN_BOUND_MS = contract.FLUSH_INTERVAL_MS + contract.RECEIVE_DEBOUNCE_MS;
/** Refuse to prefill beyond this many keys while looking for the limit. */
const MAX_PREFILL_KEYS = 200_000;

export function readConfig() {
  const raw = process.env.BENCH_SCALE || "10,100,1000,10000,50000";
  const scale = raw.split(",").map(Number);
  if (!scale.every(n => Number.isInteger(n) && n > 0)) throw new Error(`BENCH_SCALE=${raw}`);
  return {
    runs: shared.intEnv("BENCH_RUNS", 30),
    scale: scale.sort((a, b) => a - b),
    scaleRuns: shared.intEnv("BENCH_SCALE_RUNS", 3),
    prefillChunk: shared.intEnv("BENCH_PREFILL_CHUNK", 2000),
  };
}

/** A progress line per event. */
function logRun(phase: string, total: number) {
  return (i: number, run: ev.EventRun): void => {
    const d = ev.durations(run);
    const figures = `observed ${d.observed} ms${run.fresh ? "" : " (NOT FRESH)"}`;
    progress(phase, `run ${i}/${total}: ${run.ok ? figures : `FAILED: ${run.error}`}`);
  };
}

/** Summaries of every duration over the successful runs. */
function summarizeRuns(runs: ev.EventRun[]) {
  const ok = runs.filter(r => r.ok).map(ev.durations);
  const pairs = ev.BREAKDOWN.map(k => [k, summarize(ok.flatMap(d => d[k] ?? []))] as const);
  const summaries = pairs.filter(([, s]) => s !== undefined);
  return Object.fromEntries(summaries) as Partial<Record<ev.BreakdownKey, shared.Summary>>;
}

/** The latency phase: the runs, their summaries, and the watcher's calls per event. */
function latencySection(runs: ev.EventRun[]) {
  const summary = summarizeRuns(runs);
  const observed = summary.observed;
  if (!observed) throw new Error("no successful run: nothing to report");
  const patches = runs.map(r => r.patches ?? 0);
  const counts: Record<string, number> = {};
  for (const n of patches) counts[n] = (counts[n] ?? 0) + 1;
  const calls = [...new Set(runs.flatMap(r => Object.keys(r.calls ?? {})))];
  const perEvent = (counts: number[]) => summarize(counts, 3) as shared.Summary;
  const callsPerEvent = calls.map(c => [c, perEvent(runs.map(r => r.calls?.[c] ?? 0))]);
  const ratio = (ms: number) => round(ms / DESIGN_BOUND_MS, 3);
  return {
    runs: runs.map(ev.timed),
    failures: runs.filter(r => !r.ok).length,
    notFresh: runs.filter(r => r.ok && !r.fresh).length,
    summary: { ...summary, observed },
    patchesPerEvent: { ...perEvent(patches), counts },
    callsPerEvent: Object.fromEntries(callsPerEvent) as Record<string, shared.Summary>,
    ratio: { median: ratio(observed.median), p95: ratio(observed.p95), max: ratio(observed.max) },
  };
}

/** Per prefill size: reset and fill the store, then run events on it; none after a rejection. */
async function measureScale(bench: ev.Bench, cfg: Config): Promise<ScaleStep[]> {
  const steps: ScaleStep[] = [];
  for (const keys of cfg.scale) {
    const before = steps.find(s => s.rejected)?.rejected;
    const step: ScaleStep = { keys, storedKeys: 0, prefillMs: 0, prefillPatches: 0, runs: [] };
    steps.push(step);
    if (before) {
      step.skipped = `a PATCH was already rejected at ${before.attemptedKeys} keys`;
      continue;
    }
    const rv = await prefill(bench, step, cfg.prefillChunk);
    if (!step.rejected) {
      await bench.settle(rv);
      const runs = await bench.runEvents(cfg.scaleRuns, logRun(`scale ${keys}`, cfg.scaleRuns));
      step.runs = runs.map(ev.timed);
      step.summary = summarizeRuns(runs);
      step.objectBytes = await bench.objectBytes();
    }
    step.watcher = sampleProcess(bench.mod.pid);
  }
  return steps;
}

/** Resets the store and fills it to `step.keys` keys, `chunk` per PATCH, until one is rejected. */
async function prefill(bench: ev.Bench, step: ScaleStep, chunk: number): Promise<number> {
  progress("scale", `prefilling ${step.keys} keys`);
  await bench.deleteObserve();
  let rv = await bench.resetAll();
  const started = Date.now();
  while (step.storedKeys < step.keys) {
    const n = Math.min(chunk, step.keys - step.storedKeys);
    const r = await bench.addKeys(step.storedKeys, n);
    step.prefillPatches++;
    if ("error" in r) {
      step.rejected = { attemptedKeys: step.storedKeys + n, error: r.error };
      progress("scale", `PATCH to ${step.storedKeys + n} keys rejected: ${r.error}`);
      break;
    }
    rv = r.rv;
    step.storedKeys += n;
  }
  step.prefillMs = Date.now() - started;
  return rv;
}

/**
 * The most prefill keys the store accepts: from the rejected scale step's bracket, or else adding
 * chunks to the last step's keys until one is rejected, then bisected; then the module's event on
 * the full store.
 */
async function findLimit(bench: ev.Bench, chunk: number, steps: ScaleStep[]) {
  const rejected = steps.find(s => s.rejected);
  let lo = rejected?.storedKeys ?? steps[steps.length - 1]?.storedKeys ?? 0;
  let [hi, error] = [rejected?.rejected?.attemptedKeys ?? Infinity, rejected?.rejected?.error];
  const tried: { keys: number; ok: boolean }[] = [];
  progress("limit", `adding keys to the ${lo} there until etcd refuses the store, then bisecting`);
  await bench.deleteObserve();
  await bench.resetCapabilityKeys();
  while (hi - lo > 1) {
    if (lo > MAX_PREFILL_KEYS) throw new Error(`no PATCH rejected up to ${lo} keys`);
    const next = hi === Infinity ? lo + chunk : Math.floor((lo + hi) / 2);
    const r = await bench.addKeys(lo, next - lo);
    tried.push({ keys: next, ok: !("error" in r) });
    if ("error" in r) [hi, error] = [next, r.error];
    else lo = next;
  }
  progress("limit", `the store holds at most ${lo} prefill keys; ${hi}: ${error}`);
  await bench.resetCapabilityKeys();
  const maxObjectBytes = await bench.objectBytes();
  const atLimit = await eventAtLimit(bench);
  return { maxKeys: lo, maxObjectBytes, prefillError: error ?? "", steps: tried, ...atLimit };
}

/** The event on the full store; the watcher's PATCHes and warnings until two flushes later. */
async function eventAtLimit(bench: ev.Bench) {
  progress("limit", "creating observe on the full store");
  const logsFrom = bench.mod.logs.length;
  const event = await bench.runEvent();
  await cluster.sleep(2 * contract.FLUSH_INTERVAL_MS + 500); // Pepr retries at the next ticks
  const created = event.createdAt ?? event.spawnAt;
  const patches = cluster.watcherPatches(bench.audit, bench.store, event.spawnAt).map(p => ({
    code: p.responseStatus?.code ?? 0,
    afterCreateMs: round(p.receivedMs - created),
    body: JSON.stringify(p.requestObject ?? null),
  }));
  const warnings = bench.mod.logs.slice(logsFrom).filter(r => r.level >= 40);
  progress("limit", `${event.error ?? "observed"}; PATCHes ${patches.map(p => p.code)}`);
  return {
    event: ev.timed(event),
    patches,
    records: warnings.map(({ time, level, msg }) => ({ time, level, msg })),
  };
}

/** The machine and its load, the versions linked into the control plane, the module's commit. */
export function describeSetup(controlplaneBinary: string) {
  const cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1];
  const versions = execFileSync(controlplaneBinary, ["version"], { encoding: "utf8" });
  const version = (m: string) => new RegExp(`^${m} (\\S+)$`, "m").exec(versions)?.[1] ?? "?";
  const git = (...args: string[]) =>
    spawnSync("git", args, { cwd: cluster.repoRoot(), encoding: "utf8" }).stdout?.trim() ?? "";
  const dirty = git("status", "--porcelain", "--", "pepr.ts", "capabilities", "package.json");
  const pepr = path.join(cluster.repoRoot(), "node_modules/pepr/package.json");
  return {
    loadAtStart: round(os.loadavg()[0], 2), // the 1-minute load average: how busy the machine is
    machine: {
      cpuModel: cpu?.trim() ?? "unknown",
      cores: os.cpus().length,
      ramGiB: round(os.totalmem() / 2 ** 30),
      kernel: `${os.type()} ${os.release()}`,
      node: process.version,
      go: version("go"),
      kubernetes: version("k8s.io/kubernetes"),
      etcd: version("go.etcd.io/etcd/server/v3"),
    },
    module: {
      commit: git("rev-parse", "--short", "HEAD"),
      dirty: dirty.split("\n").filter(Boolean),
    },
    pepr: {
      flushIntervalMs: contract.FLUSH_INTERVAL_MS,
      receiveDebounceMs: contract.RECEIVE_DEBOUNCE_MS,
      maxWaitMs: contract.SET_ITEM_AND_WAIT_MS,
      version: (JSON.parse(readFileSync(pepr, "utf8")) as { version: string }).version,
    },
  };
}

/**
 * On the started control plane: the watcher's start-up, then the latency, scale and limit
 * phases; results.json from them. What it starts goes into `live`, for the caller to stop.
 */
export async function measure(cp: cluster.ControlPlane, setup: Setup, live: { stop(): unknown }[]) {
  if (!cp.local) throw new Error("no local control plane");
  const { config, loadAtStart, startWallSeconds, ...described } = setup;
  const audit = new cluster.AuditTail(cp.local.auditLog);
  await cluster.prepareCluster(cp);
  await cluster.ensureNamespace(cp, cluster.MODULE_NAMESPACE);
  const watcher = await cluster.deployWatcher(cp, { mode: "local", skipPrepare: true });
  live.push(watcher);
  const afterStartup = sampleProcess(watcher.logs.pid);
  const bench = new ev.Bench(cp, watcher.logs, audit);
  const latency = latencySection(
    await bench.runEvents(config.runs, logRun("latency", config.runs)),
  );
  const afterLatency = sampleProcess(watcher.logs.pid);
  const scale = await measureScale(bench, config);
  const limit = await findLimit(bench, config.prefillChunk, scale);
  const { peakRssBytes, cpuSeconds } = sampleProcess(cp.local.pid);
  const env = Object.entries(process.env).filter(([k, v]) => k.startsWith("BENCH_") && v);
  const settings = env.map(([k, v]) => `${k}=${v}`).join(" ");
  const { median, p95 } = latency.summary.observed;
  return {
    date: new Date().toISOString(),
    command: `npm run bench${settings && ` (with ${settings})`}`,
    config,
    ...described,
    designBoundMs: DESIGN_BOUND_MS,
    load: { start: loadAtStart, end: round(os.loadavg()[0], 2) },
    wallSeconds: shared.wallSeconds(),
    controlPlane: { startWallSeconds, peakRssBytes, cpuSeconds },
    watcher: { afterStartup, afterLatency, end: sampleProcess(watcher.logs.pid) },
    latency,
    scale,
    prefill: { keyBytes: ev.PREFILL_KEY_BYTES, valueBytes: ev.PREFILL_VALUE_BYTES },
    limit,
    summary: {
      median_s: round(median / 1000, 3),
      p95_s: round(p95 / 1000, 3),
      ratio_to_bound: latency.ratio.p95,
      patches_per_event: latency.patchesPerEvent.mean,
    },
  };
}
