// npm run bench: how long until a Pepr Store write is in the PeprStore CR, how many API calls it
// costs, what the watcher costs, and how far one PeprStore scales, on the local control plane.
// Writes bench/results.json, bench/REPORT.md, bench/latency.svg and bench/scale.svg, prints
// progress on stderr and, last on stdout: `median_s p95_s ratio_to_bound patches_per_event`.
// `npm run bench -- --report` only re-renders the report and charts from results.json. The other
// measurements are modes of this one entry point: `-- --deployed` (./deployed-vs-local.ts: the
// module as `npx pepr deploy` runs it, beside the local watcher) and `-- --npm-start`
// (./npm-start.ts: a warm `npm start` to the printed store, by phase).
//
// Environment (defaults in brackets):
//   BENCH_RUNS [30]                       events for the latency figures
//   BENCH_SCALE [10,100,1000,10000,50000]  prefill sizes, keys
//   BENCH_SCALE_RUNS [3]                  events per prefill size
//   BENCH_PREFILL_CHUNK [2000]            keys per prefill PATCH
//   BENCH_OUT [bench/]                    where the results, report and charts go
//   BENCH_WATCHER_LOG [unset]             also write the watcher's log records to this file
//                                         (each cut at 2000 characters), for debugging
//   WATCHER_PORT_WAIT_MS [0]              (harness) wait for port 3000 if another watcher runs
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as prettier from "prettier";

import {
  assertWatcherPortFree,
  AuditTail,
  buildControlPlane,
  buildModule,
  ControlPlane,
  ensureNamespace,
  ENV_USE_EXISTING_CLUSTER,
  MODULE_NAMESPACE,
  ModuleProcess,
  prepareCluster,
  repoRoot,
  sleep,
  startControlPlane,
  deployWatcher,
  waitFor,
  watcherCalls,
  watcherPatches,
} from "../cluster";
import { scheduleStoreName, storeName } from "../store/contract";
import { latencyChart, scaleChart } from "./charts";
import { benchDeployedVsLocal } from "./deployed-vs-local";
import { benchNpmStart } from "./npm-start";
import { peprTimings } from "./pepr";
import { describeMachine, loadAverage, sampleProcess } from "./proc";
import { intEnv, progress, wallSeconds } from "./progress";
import { renderReport } from "./report";
import {
  Bench,
  CAPABILITY_DATA,
  EventRun,
  KEY_PREFIX,
  PREFILL_KEY_BYTES,
  PREFILL_VALUE_BYTES,
  STEP_TIMEOUT_MS,
} from "./event";
import { round, stratifiedPhases, summarize, Summary } from "./stats";
import { BreakdownKey, durations, LimitResult, Results, ScaleStep } from "./results";
import { StoreWatch } from "./storewatch";

/** Environment overrides, each defined once. */
export const ENV = {
  runs: "BENCH_RUNS",
  scale: "BENCH_SCALE",
  scaleRuns: "BENCH_SCALE_RUNS",
  chunk: "BENCH_PREFILL_CHUNK",
  out: "BENCH_OUT",
  watcherLog: "BENCH_WATCHER_LOG",
} as const;
export const DEFAULT_RUNS = 30;
export const DEFAULT_SCALE = [10, 100, 1000, 10_000, 50_000];
export const DEFAULT_SCALE_RUNS = 3;
export const DEFAULT_PREFILL_CHUNK = 2000;
/** How often the 1-minute load average is sampled during the run. */
const LOAD_SAMPLE_MS = 5000;
/** Refuse to prefill beyond this many keys while looking for the limit. */
const MAX_PREFILL_KEYS = 200_000;

function config() {
  const scaleRaw = process.env[ENV.scale];
  const scale = scaleRaw
    ? scaleRaw.split(",").map(s => {
        const n = Number(s.trim());
        if (!Number.isInteger(n) || n < 1)
          throw new Error(`${ENV.scale}=${scaleRaw}: bad size ${s}`);
        return n;
      })
    : DEFAULT_SCALE;
  return {
    runs: intEnv(ENV.runs, DEFAULT_RUNS),
    scale: [...scale].sort((a, b) => a - b),
    scaleRuns: intEnv(ENV.scaleRuns, DEFAULT_SCALE_RUNS),
    chunk: intEnv(ENV.chunk, DEFAULT_PREFILL_CHUNK),
    out: path.resolve(process.env[ENV.out] ?? path.join(repoRoot(), "bench")),
  };
}

/** Summaries of every duration over the successful runs. */
function summarizeRuns(runs: EventRun[]): Partial<Record<BreakdownKey, Summary>> {
  const ok = runs.filter(r => r.ok).map(durations);
  const out: Partial<Record<BreakdownKey, Summary>> = {};
  const keys = Object.keys(durations({ ok: true, fresh: true, spawnAt: 0, errors: [] }));
  for (const key of keys as BreakdownKey[]) {
    const s = summarize(ok.map(d => d[key]).filter((v): v is number => v !== undefined));
    if (s) out[key] = roundSummary(s);
  }
  return out;
}

function roundSummary(s: Summary): Summary {
  return {
    n: s.n,
    min: round(s.min),
    median: round(s.median),
    p95: round(s.p95),
    max: round(s.max),
    mean: round(s.mean),
  };
}

/** Assigns each run the watcher's PATCHes from its create up to the next run's create. */
function countPatches(audit: AuditTail, store: string, runs: EventRun[], endMs: number): void {
  runs.forEach((run, i) => {
    const to = runs[i + 1]?.spawnAt ?? endMs;
    const patches = watcherPatches(audit, store, run.spawnAt, to);
    run.patches = patches.length;
    run.patchCodes = patches.map(p => p.responseStatus?.code ?? 0);
    run.calls = Object.fromEntries(
      watcherCalls(audit, run.spawnAt, to).map(c => [`${c.verb} ${c.path}`, c.count]),
    );
  });
}

/** Per call ("<verb> <path>"), how many the watcher made per event: min, max and mean. */
function callsPerEvent(
  runs: EventRun[],
): Record<string, { min: number; max: number; mean: number }> {
  const keys = new Set(runs.flatMap(r => Object.keys(r.calls ?? {})));
  const out: Record<string, { min: number; max: number; mean: number }> = {};
  for (const key of keys) {
    const n = runs.map(r => r.calls?.[key] ?? 0);
    out[key] = {
      min: Math.min(...n),
      max: Math.max(...n),
      mean: round(n.reduce((a, b) => a + b, 0) / n.length, 3),
    };
  }
  return out;
}

type Config = ReturnType<typeof config>;
type ProcSample = Results["watcher"]["end"];
type LimitStart = { lo: number; hi: number; error: string };

/** The 1-minute load average, sampled every LOAD_SAMPLE_MS until `stop()`. */
function sampleLoad(): { loads: number[]; stop: () => void } {
  const loads: number[] = [loadAverage()];
  const timer = setInterval(() => loads.push(loadAverage()), LOAD_SAMPLE_MS);
  return { loads, stop: () => clearInterval(timer) };
}

/** Builds (or checks) the control plane and the module; describes the machine and the sources. */
function buildAll(loadAtStart: number) {
  const started = Date.now();
  const binary = buildControlPlane(false);
  const buildCheckSeconds = (Date.now() - started) / 1000;
  const machine = describeMachine(binary);
  buildModule(true);
  // What the watcher runs: the sources as they are now (others may edit them during the run).
  const source = moduleSource();
  if (source.dirty.length > 0) {
    progress("setup", `module sources have uncommitted changes: ${source.dirty.join("; ")}`);
  }
  progress(
    "setup",
    `${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, load ${loadAtStart.toFixed(2)}`,
  );
  return { buildCheckSeconds, machine, source };
}

/**
 * The watcher's start-up, from `started` (its spawn): it ends when the schedule store Pepr
 * creates after "Controller startup complete" is watched too.
 */
async function watcherStartup(audit: AuditTail, mod: ModuleProcess, started: number) {
  const wallSeconds = (Date.now() - started) / 1000;
  const schedule = scheduleStoreName();
  await waitFor(
    `the watcher's WATCH on ${schedule} in the audit log`,
    () => {
      audit.poll();
      return audit.events.find(
        e =>
          e.verb === "watch" &&
          e.userAgent === "kubernetes-fluent-client" &&
          e.requestURI.includes(schedule),
      );
    },
    STEP_TIMEOUT_MS,
  );
  const calls = watcherCalls(audit, started, Date.now());
  const sample = sampleProcess(mod.pid);
  progress(
    "watcher",
    `started in ${wallSeconds.toFixed(1)}s; ${calls.reduce((a, c) => a + c.count, 0)} API calls during start-up`,
  );
  return { wallSeconds, calls, sample };
}

/** `runs` events at stratified phases, then the watcher's PATCHes and calls of each. */
async function measureEvents(
  bench: Bench,
  runs: number,
  report: (i: number, run: EventRun) => void,
): Promise<EventRun[]> {
  const phases = stratifiedPhases(runs, bench.timings.flushIntervalMs);
  const out: EventRun[] = [];
  for (let i = 0; i < runs; i++) {
    const run = await bench.runEvent(phases[i]);
    out.push(run);
    report(i, run);
  }
  // Late PATCHes of the last run would come at the next flush tick.
  await sleep(bench.timings.flushIntervalMs + 500);
  countPatches(bench.audit, bench.store, out, Date.now());
  return out;
}

/** The latency phase: `runs` events on a store with only the placeholder and the four keys. */
function measureLatency(bench: Bench, runs: number): Promise<EventRun[]> {
  return measureEvents(bench, runs, (i, run) => {
    const d = durations(run);
    progress(
      "latency",
      `run ${i + 1}/${runs}: ${run.ok ? `persisted ${fmt(d.persisted)} observed ${fmt(d.observed)}${run.fresh ? "" : " (NOT FRESH)"}` : `FAILED: ${run.error}`}`,
    );
  });
}

/** The scale phase: per prefill size, fill the store, then run events on it. */
async function measureScale(bench: Bench, cfg: Config) {
  const steps: ScaleStep[] = [];
  let limitStart: LimitStart | undefined;
  let lastStored = 0;
  for (const keys of cfg.scale) {
    if (limitStart) {
      steps.push(emptyStep(keys, `a PATCH was already rejected at ${limitStart.hi} keys`));
      continue;
    }
    const { step, rv } = await prefill(bench, keys, cfg.chunk);
    limitStart = step.rejected && {
      lo: step.storedKeys,
      hi: step.rejected.attemptedKeys,
      error: step.rejected.error,
    };
    lastStored = step.storedKeys;
    if (!step.rejected) {
      await bench.settle(rv);
      const runs = await measureEvents(bench, cfg.scaleRuns, (i, run) => {
        const d = durations(run);
        progress(
          "scale",
          `${keys} keys, run ${i + 1}/${cfg.scaleRuns}: ${run.ok ? `CR ${run.objectBytes} B, PATCH ${fmt(d.patchServer)}, delivery ${fmt(d.deliveryBench)}, observed ${fmt(d.observed)}` : `FAILED: ${run.error}`}`,
        );
      });
      step.runs = runs.map(r => ({ ...r, ms: durations(r) }));
      step.summary = summarizeRuns(runs);
      step.objectBytes = runs.find(r => r.objectBytes !== undefined)?.objectBytes;
    }
    step.watcher = sampleProcess(bench.mod.pid);
    steps.push(step);
  }
  return { steps, limitStart, lastStored };
}

/** Resets the store and fills it with `keys` prefill keys, `chunk` per PATCH, until one is rejected. */
async function prefill(
  bench: Bench,
  keys: number,
  chunk: number,
): Promise<{ step: ScaleStep; rv: number }> {
  progress("scale", `prefilling ${keys} keys`);
  await bench.deleteObserve();
  let rv = await bench.resetAll();
  const step = emptyStep(keys);
  const fillStart = Date.now();
  while (step.storedKeys < keys) {
    const n = Math.min(chunk, keys - step.storedKeys);
    const r = await bench.addKeys(step.storedKeys, n);
    step.prefillPatches++;
    if (!r.ok) {
      step.rejected = { attemptedKeys: step.storedKeys + n, error: r.error };
      progress("scale", `PATCH to ${step.storedKeys + n} keys rejected: ${r.error}`);
      break;
    }
    rv = r.rv;
    step.storedKeys += n;
  }
  step.prefillMs = Date.now() - fillStart;
  return { step, rv };
}

/** The processes `main` must stop, set as soon as each one runs. */
interface Live {
  mod?: ModuleProcess;
  watch?: StoreWatch;
}

async function main(): Promise<void> {
  const cfg = config();
  const timings = peprTimings();
  const store = storeName();
  progress(
    "setup",
    `runs=${cfg.runs} scale=${cfg.scale.join(",")} scaleRuns=${cfg.scaleRuns} out=${cfg.out}`,
  );
  if (process.env[ENV_USE_EXISTING_CLUSTER] === "true") {
    throw new Error(
      `the benchmark needs the local control plane's audit log: unset ${ENV_USE_EXISTING_CLUSTER}`,
    );
  }
  const load = sampleLoad();
  const setup = buildAll(load.loads[0]);
  const started = Date.now();
  const cp: ControlPlane = await startControlPlane();
  const cpWall = (Date.now() - started) / 1000;
  progress(
    "control plane",
    `ready in ${cpWall.toFixed(1)}s (ready line: ${cp.local?.startSeconds}s)`,
  );
  const live: Live = {};
  try {
    const measured = await measure(cp, live, { cfg, timings, store });
    load.stop();
    const results = collectResults({
      ...setup,
      ...measured,
      cfg,
      timings,
      loads: [...load.loads, loadAverage()],
      controlPlane: { ...measured.controlPlane, cpWall },
    });
    await writeOutputs(cfg.out, results);
    progress(
      "done",
      `wrote ${path.relative(process.cwd(), cfg.out) || "."}/{results.json,REPORT.md,latency.svg,scale.svg} in ${results.wallSeconds}s`,
    );
    const s = results.summary;
    process.stdout.write(`${s.median_s} ${s.p95_s} ${s.ratio_to_bound} ${s.patches_per_event}\n`);
  } finally {
    load.stop();
    const logFile = process.env[ENV.watcherLog];
    if (logFile && live.mod) {
      const lines = live.mod.logs.map(r => JSON.stringify(r).slice(0, 2000));
      writeFileSync(logFile, lines.join("\n") + "\n");
    }
    live.watch?.stop();
    await live.mod?.stop();
    await cp.stop();
  }
}

/** On the started control plane: the watcher's start-up, then the latency, scale and limit phases. */
async function measure(
  cp: ControlPlane,
  live: Live,
  { cfg, timings, store }: { cfg: Config; timings: Results["pepr"]; store: string },
) {
  if (!cp.local) throw new Error("no local control plane");
  const audit = new AuditTail(cp.local.auditLog);
  await prepareCluster(cp);
  await ensureNamespace(cp, MODULE_NAMESPACE);
  const watch = (live.watch = new StoreWatch(cp.kubeconfig, store, CAPABILITY_DATA));
  await watch.start();

  // Timed once port 3000 is free: another watcher may hold it.
  await assertWatcherPortFree();
  const started = Date.now();
  const mod = (live.mod = (await deployWatcher(cp, { mode: "local", skipPrepare: true })).logs);
  const startup = await watcherStartup(audit, mod, started);

  const bench = new Bench(cp, mod, watch, audit, timings, store);
  const latencyRuns = await measureLatency(bench, cfg.runs);
  const afterLatency = sampleProcess(mod.pid);
  const scale = await measureScale(bench, cfg);
  const limit = await findLimit(bench, cfg.chunk, scale.limitStart, scale.lastStored);
  return {
    startup,
    latencyRuns,
    afterLatency,
    steps: scale.steps,
    limit,
    end: sampleProcess(mod.pid),
    controlPlane: { startSeconds: cp.local.startSeconds, sample: sampleProcess(cp.local.pid) },
  };
}

/** Everything one run measured, as collected by `main`. */
interface Measured {
  cfg: Config;
  timings: Results["pepr"];
  buildCheckSeconds: number;
  machine: Results["machine"];
  source: Results["module"];
  loads: number[];
  controlPlane: { cpWall: number; startSeconds?: number; sample: ProcSample };
  startup: Awaited<ReturnType<typeof watcherStartup>>;
  latencyRuns: EventRun[];
  afterLatency: ProcSample;
  end: ProcSample;
  steps: ScaleStep[];
  limit: LimitResult;
}

/** results.json from what one run measured. */
function collectResults(m: Measured): Results {
  const bound = m.timings.flushIntervalMs + m.timings.receiveDebounceMs;
  const { latency, observed } = latencyResults(m.latencyRuns, bound);
  return {
    date: new Date().toISOString(),
    command: `npm run bench${envDescription()}`,
    config: {
      runs: m.cfg.runs,
      scale: m.cfg.scale,
      scaleRuns: m.cfg.scaleRuns,
      prefillChunk: m.cfg.chunk,
    },
    machine: m.machine,
    module: m.source,
    pepr: m.timings,
    designBoundMs: bound,
    load: loadResults(m.loads),
    wallSeconds: wallSeconds(),
    controlPlane: controlPlaneResults(m),
    watcher: watcherResults(m),
    latency,
    scale: m.steps,
    prefill: {
      keyBytes: PREFILL_KEY_BYTES,
      valueBytes: PREFILL_VALUE_BYTES,
      storedKeyBytes: KEY_PREFIX.length + PREFILL_KEY_BYTES,
    },
    limit: m.limit,
    summary: {
      median_s: round(observed.median / 1000, 3),
      p95_s: round(observed.p95 / 1000, 3),
      ratio_to_bound: round(observed.p95 / bound, 3),
      patches_per_event: latency.patchesPerEvent.mean,
    },
  };
}

function loadResults(loads: number[]): Results["load"] {
  return {
    start: round(loads[0], 2),
    end: round(loads[loads.length - 1], 2),
    min: round(Math.min(...loads), 2),
    max: round(Math.max(...loads), 2),
    mean: round(loads.reduce((a, b) => a + b, 0) / loads.length, 2),
    samples: loads.length,
  };
}

function controlPlaneResults(m: Measured): Results["controlPlane"] {
  const { cpWall, startSeconds, sample } = m.controlPlane;
  return {
    buildCheckSeconds: round(m.buildCheckSeconds, 2),
    startWallSeconds: round(cpWall, 2),
    readyLineStartSeconds: startSeconds === undefined ? undefined : round(startSeconds, 2),
    peakRssBytes: sample.peakRssBytes,
    cpuSeconds: round(sample.cpuSeconds, 2),
  };
}

function watcherResults(m: Measured): Results["watcher"] {
  const calls = m.startup.calls;
  return {
    startWallSeconds: round(m.startup.wallSeconds, 2),
    startupCalls: calls,
    startupGetListWatch: calls
      .filter(c => ["get", "list", "watch"].includes(c.verb))
      .reduce((a, c) => a + c.count, 0),
    startupAllCalls: calls.reduce((a, c) => a + c.count, 0),
    afterStartup: m.startup.sample,
    afterLatency: m.afterLatency,
    end: m.end,
  };
}

/**
 * The latency section of results.json (runs, summaries, PATCHes and calls per event, ratios),
 * and the summary of created → `observed`.
 *
 * @throws Error when no run succeeded
 */
function latencyResults(
  runs: EventRun[],
  bound: number,
): { latency: Results["latency"]; observed: Summary } {
  const okRuns = runs.filter(r => r.ok);
  const patchCounts = runs.map(r => r.patches ?? 0);
  const counts: Record<string, number> = {};
  for (const c of patchCounts) counts[String(c)] = (counts[String(c)] ?? 0) + 1;
  const summary = summarizeRuns(runs);
  const observed = summary.observed;
  if (!observed) throw new Error("no successful run: nothing to report");
  const ratio = (ms: number): number => round(ms / bound, 3);
  const latency = {
    runs: runs.map(r => ({ ...r, ms: durations(r) })),
    failures: runs.length - okRuns.length,
    notFresh: okRuns.filter(r => !r.fresh).length,
    summary,
    callsPerEvent: callsPerEvent(runs),
    patchesPerEvent: {
      mean: round(patchCounts.reduce((a, b) => a + b, 0) / patchCounts.length, 3),
      min: Math.min(...patchCounts),
      max: Math.max(...patchCounts),
      counts,
    },
    ratio: { median: ratio(observed.median), p95: ratio(observed.p95), max: ratio(observed.max) },
  };
  return { latency, observed };
}

/** The commit the module was built from, and uncommitted changes to its sources. */
function moduleSource(): { commit: string; dirty: string[] } {
  const git = (args: string[]): string =>
    spawnSync("git", args, { cwd: repoRoot(), encoding: "utf8" }).stdout?.trim() ?? "";
  return {
    commit: git(["rev-parse", "--short", "HEAD"]) || "unknown",
    dirty: git(["status", "--porcelain", "--", "pepr.ts", "capabilities", "package.json"])
      .split("\n")
      .filter(line => line !== ""),
  };
}

function emptyStep(keys: number, skipped?: string): ScaleStep {
  return { keys, storedKeys: 0, prefillMs: 0, prefillPatches: 0, runs: [], summary: {}, skipped };
}

function fmt(ms?: number): string {
  return ms === undefined ? "-" : `${(ms / 1000).toFixed(3)}s`;
}

/** The environment overrides in effect, for the report's command line. */
function envDescription(): string {
  const set = Object.values(ENV)
    .filter(name => process.env[name] !== undefined && process.env[name] !== "")
    .map(name => `${name}=${process.env[name]}`);
  return set.length > 0 ? ` (with ${set.join(" ")})` : "";
}

/**
 * Finds the most prefill keys the store accepts (bisecting between the last accepted and the
 * first rejected count), then runs the module's event on the full store, watches two more
 * flush intervals, resets the store and runs one more event to see whether the module recovers.
 */
async function findLimit(
  bench: Bench,
  chunk: number,
  start: LimitStart | undefined,
  lastStored: number,
): Promise<LimitResult> {
  const steps: { keys: number; ok: boolean }[] = [];
  if (start) steps.push({ keys: start.lo, ok: true }, { keys: start.hi, ok: false });
  const bracket = start ?? (await firstRejection(bench, chunk, lastStored, steps));
  const { lo, hi, error } = await bisect(bench, bracket, steps);
  progress("limit", `the store holds at most ${lo} prefill keys; ${hi}: ${error}`);
  const rv = await bench.resetCapabilityKeys();
  const full = await bench.watch.waitFor(
    "the full store",
    e => e.resourceVersion >= rv,
    STEP_TIMEOUT_MS,
  );
  const atLimit = await eventAtLimit(bench);
  const recovery = await recoveryAfterLimit(bench);
  return {
    maxKeys: lo,
    maxObjectBytes: full.objectBytes,
    prefillError: error,
    ...atLimit,
    recovery,
    steps,
  };
}

/** No scale step reached the limit: keep the last step's prefill and add chunks until rejected. */
async function firstRejection(
  bench: Bench,
  chunk: number,
  lastStored: number,
  steps: { keys: number; ok: boolean }[],
): Promise<LimitStart> {
  progress("limit", `adding ${chunk}-key chunks to the ${lastStored} keys of the last step`);
  await bench.deleteObserve();
  await bench.resetCapabilityKeys();
  for (let lo = lastStored; ; lo += chunk) {
    if (lo > MAX_PREFILL_KEYS) throw new Error(`no PATCH rejected up to ${lo} keys`);
    const r = await bench.addKeys(lo, chunk);
    steps.push({ keys: lo + chunk, ok: r.ok });
    if (!r.ok) return { lo, hi: lo + chunk, error: r.error };
  }
}

/** Narrows [lo accepted, hi rejected] to adjacent key counts, recording each PATCH tried. */
async function bisect(
  bench: Bench,
  bracket: LimitStart,
  steps: { keys: number; ok: boolean }[],
): Promise<LimitStart> {
  let { lo, hi, error } = bracket;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    const r = await bench.addKeys(lo, mid - lo);
    steps.push({ keys: mid, ok: r.ok });
    if (r.ok) lo = mid;
    else {
      hi = mid;
      error = r.error;
    }
  }
  return { lo, hi, error };
}

/** The module's event on the full store, and the watcher's PATCHes, calls and warnings after it. */
async function eventAtLimit(
  bench: Bench,
): Promise<Pick<LimitResult, "event" | "patches" | "calls" | "records">> {
  const { timings, audit, store, mod } = bench;
  progress("limit", "creating observe on the full store (waits until the callback ends)");
  const logsFrom = mod.logs.length;
  const event = await bench.runEvent(undefined, true);
  // Trailing flushes: Pepr's retry of a failed PATCH comes at the next ticks.
  await sleep(2 * timings.flushIntervalMs + 500);
  const windowEnd = Date.now();
  const patches = watcherPatches(audit, store, event.spawnAt, windowEnd).map(p => ({
    code: p.responseStatus?.code ?? 0,
    afterCreateMs: round(p.receivedMs - (event.createdAt ?? event.spawnAt), 1),
    body: JSON.stringify(p.requestObject ?? null),
  }));
  const calls = watcherCalls(audit, event.spawnAt, windowEnd);
  const records = mod.logs
    .slice(logsFrom)
    .filter(r => r.level >= 40)
    .map(r => ({ time: r.time, level: r.level, msg: r.msg, detail: recordDetail(r) }));
  progress(
    "limit",
    `callback ${event.outcome ?? `did not end: ${event.error}`}; watcher PATCH codes: ${patches.map(p => p.code).join(",")}; ` +
      `warnings/errors: ${[...new Set(records.map(e => e.msg))].join(" | ")}`,
  );
  return { event: { ...event, ms: durations(event) }, patches, calls, records };
}

/** Resets the store to the placeholder and runs one more event: does the module recover? */
async function recoveryAfterLimit(bench: Bench): Promise<LimitResult["recovery"]> {
  progress("limit", "resetting the store to the placeholder and creating observe again");
  await bench.resetAll();
  const recovery = await bench.runEvent(undefined);
  await sleep(bench.timings.flushIntervalMs + 500);
  const codesAfter = watcherPatches(bench.audit, bench.store, recovery.spawnAt, Date.now()).map(
    p => p.responseStatus?.code ?? 0,
  );
  progress(
    "limit",
    `after the reset: ${recovery.ok ? "observed logged" : `no observed: ${recovery.error}`}; PATCH codes ${codesAfter.join(",")}`,
  );
  return { ...recovery, ms: durations(recovery), patchCodesAfter: codesAfter };
}

function recordDetail(r: { [k: string]: unknown }): string {
  const rest = { ...r };
  for (const k of ["level", "time", "pid", "hostname"]) delete rest[k];
  return JSON.stringify(rest).slice(0, 2000);
}

async function writeOutputs(dir: string, results: Results): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const root = repoRoot();
  const options = (await prettier.resolveConfig(path.join(root, "bench", "REPORT.md"))) ?? {};
  const json = await prettier.format(JSON.stringify(results, null, 2), {
    ...options,
    parser: "json",
  });
  writeFileSync(path.join(dir, "results.json"), json);
  writeFileSync(path.join(dir, "latency.svg"), await latencyChart(results));
  writeFileSync(path.join(dir, "scale.svg"), await scaleChart(results));
  const report = await prettier.format(renderReport(results), { ...options, parser: "markdown" });
  writeFileSync(path.join(dir, "REPORT.md"), report);
}

/** `--report`: re-render REPORT.md and the charts from an existing results.json, measuring nothing. */
async function reportOnly(): Promise<void> {
  const { out } = config();
  const results = JSON.parse(readFileSync(path.join(out, "results.json"), "utf8")) as Results;
  await writeOutputs(out, results);
  progress("report", `re-rendered ${out}/REPORT.md and the charts from results.json`);
}

/** The modes besides the default run, by their flag. */
const MODES: Record<string, () => Promise<void>> = {
  "--report": reportOnly,
  "--deployed": benchDeployedVsLocal,
  "--npm-start": benchNpmStart,
};

/** The mode the arguments name (the full run without any), or undefined after printing usage. */
function chosenMode(args: string[]): (() => Promise<void>) | undefined {
  if (args.length === 0) return main;
  if (args.length === 1 && args[0] in MODES) return MODES[args[0]];
  process.stderr.write(
    `usage: npm run bench [-- ${Object.keys(MODES).join(" | ")}] (got: ${args.join(" ")})\n`,
  );
  return undefined;
}

const mode = chosenMode(process.argv.slice(2));
if (!mode) process.exitCode = 2;
mode?.().catch(err => {
  process.stderr.write(
    `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  if (err instanceof Error && err.cause) process.stderr.write(`cause: ${String(err.cause)}\n`);
  process.exitCode = 1;
});
