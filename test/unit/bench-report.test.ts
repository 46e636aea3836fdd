// The benchmark's figures (bench/event.ts durations, bench/shared.ts summaries), its report
// (bench/report.ts) and its chart data (bench/charts.ts) from a small results.json made up here:
// every figure they print or plot, exactly.
import { latencyRows, latencySpec, scaleRows, scaleSpec } from "../../bench/charts";
import { durations, type EventRun, type TimedRun } from "../../bench/event";
import { renderReport } from "../../bench/report";
import type { Results, ScaleStep } from "../../bench/measure";
import { summarize, table, type Summary } from "../../bench/shared";

const MIB = 2 ** 20;

function run(ms: TimedRun["ms"], extra: Partial<EventRun> = {}): TimedRun {
  return { ok: true, fresh: true, spawnAt: 0, patches: 1, ...extra, ms };
}

function summary(n: number, min: number, median: number, p95: number, max: number, mean: number) {
  return { n, min, median, p95, max, mean } satisfies Summary;
}

const sample = (rss: number, peak: number, cpu: number) => ({
  at: 0,
  rssBytes: rss * MIB,
  peakRssBytes: peak * MIB,
  cpuSeconds: cpu,
});

function scaleStep(keys: number, bytes: number, medians: TimedRun["ms"]): ScaleStep {
  const one = (v: number) => summary(1, v, v, v, v, v);
  return {
    keys,
    storedKeys: keys,
    prefillMs: 400,
    prefillPatches: 1,
    runs: [run(medians)],
    summary: Object.fromEntries(Object.entries(medians).map(([k, v]) => [k, one(v as number)])),
    objectBytes: bytes,
    watcher: sample(150, 160, 3),
  };
}

/** Four runs (one failed), two measured scale steps and one rejected, and the limit. */
function results(): Results {
  return {
    date: "2026-01-02T03:04:05.000Z",
    command: "npm run bench (with BENCH_RUNS=4)",
    config: { runs: 4, scale: [10, 1000, 50000], scaleRuns: 1, prefillChunk: 2000 },
    machine: {
      cpuModel: "CPU X",
      cores: 2,
      ramGiB: 23.5,
      kernel: "Linux 6",
      node: "v20.20.2",
      go: "go1.26.8",
      kubernetes: "v1.36.3",
      etcd: "v3.6.8",
    },
    module: { commit: "abc1234", dirty: [] },
    pepr: { flushIntervalMs: 4000, receiveDebounceMs: 1000, maxWaitMs: 15000, version: "1.1.4" },
    designBoundMs: 5000,
    load: { start: 0.5, end: 0.7 },
    wallSeconds: 123.4,
    controlPlane: { startWallSeconds: 3.6, peakRssBytes: 400 * MIB, cpuSeconds: 20.25 },
    watcher: {
      afterStartup: sample(100, 110, 1),
      afterLatency: sample(120, 130, 1.75),
      end: sample(200, 204.4, 5.67),
    },
    latency: {
      runs: [
        run({ persisted: 1000, observed: 2010, waitFlush: 900, debounce: 1005 }),
        run({ persisted: 2000, observed: 3020, waitFlush: 1900, debounce: 1010 }),
        run({}, { ok: false, error: "timeout", patches: 0 }),
        run({ persisted: 3500, observed: 4600, waitFlush: 3400, debounce: 1080 }),
      ],
      failures: 1,
      notFresh: 0,
      summary: {
        persisted: summary(3, 1000, 2000, 3500, 3500, 2166.7),
        observed: summary(3, 2010, 3020, 4600, 4600, 3210),
        waitFlush: summary(3, 900, 1900, 3400, 3400, 2066.7),
        debounce: summary(3, 1005, 1010, 1080, 1080, 1031.7),
      },
      patchesPerEvent: { ...summary(4, 0, 1, 1, 1, 0.75), counts: { "0": 1, "1": 3 } },
      callsPerEvent: { "patch /apis/x": summary(4, 0, 1, 1, 1, 0.75) },
      ratio: { median: 0.604, p95: 0.92, max: 0.92 },
    },
    scale: [
      scaleStep(10, 3400, { persisted: 2500, observed: 3400, patchServer: 4.5 }),
      scaleStep(1000, 220450, { persisted: 2600, observed: 3500, patchServer: 60.25 }),
      {
        ...{ keys: 50000, storedKeys: 10000, prefillMs: 900, prefillPatches: 6, runs: [] },
        rejected: { attemptedKeys: 12000, error: "Error from server: too large\nmore" },
      },
    ],
    prefill: { keyBytes: 40, valueBytes: 64 },
    limit: {
      maxKeys: 11230,
      maxObjectBytes: 1572554,
      prefillError: "Error from server: etcdserver: request is too large\nmore",
      steps: [{ keys: 11230, ok: true }],
      event: run({}, { ok: false, error: "timeout", createdAt: 1000 }),
      patches: [
        { code: 500, afterCreateMs: 590, body: '[{"op":"add","path":"/data/k"}]' },
        { code: 422, afterCreateMs: 4590, body: "[null]" },
      ],
      records: [
        { time: 1600, level: 50, msg: "Pepr store update failure" },
        { time: 5600, level: 50, msg: "Pepr store update failure" },
        { time: 16000, level: 40, msg: "re-writing store keys" },
      ],
    },
    summary: { median_s: 3.02, p95_s: 4.6, ratio_to_bound: 0.92, patches_per_event: 0.75 },
  };
}

describe("the figures", () => {
  it("times each step between two times of the run, to 0.1 ms", () => {
    const times = { createdAt: 1000.04, addedAt: 1003, flushAt: 3000, patchReceivedAt: 3009.3 };
    const more = { patchDoneAt: 3012.86, peprUpdateAt: 3013, observedAt: 4020 };
    expect(durations({ ok: true, fresh: true, spawnAt: 990, ...times, ...more })).toEqual({
      persisted: 2012.8,
      observed: 3020,
      toCallback: 3,
      waitFlush: 1997,
      flushToPatch: 9.3,
      deliveryPepr: 3.7,
      debounce: 1007,
      patchServer: 3.6,
    });
    expect(durations({ ok: false, fresh: false, spawnAt: 0, createdAt: 5 }).observed).toBe(
      undefined,
    );
  });

  it("summarises with the median and the nearest-rank p95", () => {
    const thirty = Array.from({ length: 30 }, (_, i) => 30 - i);
    expect(summarize(thirty)).toEqual(summary(30, 1, 15.5, 29, 30, 15.5));
    expect(summarize([0.1234, 0.5678], 3)).toEqual(summary(2, 0.123, 0.346, 0.568, 0.568, 0.346));
    expect(summarize([])).toBe(undefined);
  });

  it("writes a Markdown table from rows of cells", () => {
    expect(table("a | b", ["1 | 2"])).toBe("| a | b |\n| --- | --- |\n| 1 | 2 |");
  });
});

describe("renderReport", () => {
  const report = renderReport(results());
  const lines = report.split("\n");

  it("renders the sections in order, from results.json and the README's method", () => {
    expect(lines.filter(l => l.startsWith("#"))).toEqual([
      "# Benchmark: Pepr Store persistence on the local control plane",
      "## Machine, run and cost",
      "## Event to persisted",
      "## API calls",
      "## Scale",
      "## The limit",
    ]);
    expect(lines[2]).toBe(
      "Written by `npm run bench (with BENCH_RUNS=4)` (`bench/run.ts`) on 2026-01-02T03:04:05.000Z. Every figure comes from that one run on the machine below; the raw numbers are in [`results.json`](results.json), how they are measured in [README.md](README.md#how-it-is-measured).",
    );
  });

  it("prints the headline figures and the summary line", () => {
    expect(lines.slice(4, 12)).toEqual([
      "| figure | value |",
      "| --- | --- |",
      "| ConfigMap `observe` created → `observed` logged, median / p95 / max | 3.020 s / 4.600 s / 4.600 s |",
      "| p95 / design bound (4 s flush + 1 s debounce = 5 s) | 0.92 |",
      "| created → the four keys in the CR, median / p95 / max | 2.000 s / 3.500 s / 3.500 s |",
      "| PATCHes to the PeprStore per event | 0.75 (min 0, max 1, 4 events) |",
      "| all API calls of the watcher per event, mean | 0.75 patch |",
      "| largest store that persists | 11,230 prefill keys, 1,572,554 B (1.50 MiB) |",
    ]);
    expect(report).toContain(
      "(`median_s p95_s ratio_to_bound patches_per_event`): `3.02 4.6 0.92 0.75`",
    );
  });

  it("prints the machine, the run and what the watcher and the control plane cost", () => {
    expect(lines).toEqual(
      expect.arrayContaining([
        "| machine | CPU X, 2 cores, 23.5 GiB RAM, Linux 6; 1-minute load 0.5 at the start, 0.7 at the end |",
        "| software | Node v20.20.2; Pepr 1.1.4; control plane go1.26.8, kube-apiserver v1.36.3, etcd v3.6.8 |",
        "| module | commit abc1234, sources clean |",
        "| settings | 4 latency runs; prefill sizes 10, 1000, 50000; events per size: 1; 2000 keys per prefill PATCH; 123.4 s in all |",
        "| control plane (one process) | 3.6 s to start; peak RSS 400.0 MiB, CPU 20.25 s |",
        "| watcher (`LOG_LEVEL=debug`): peak RSS / RSS / CPU s | after start-up 110.0 MiB / 100.0 MiB / 1.00 s; after the 4 latency events 130.0 MiB / 120.0 MiB / 1.75 s; at the end 204.4 MiB / 200.0 MiB / 5.67 s |",
      ]),
    );
  });

  it("prints the latency tables, ratios and what dominates", () => {
    expect(lines).toEqual(
      expect.arrayContaining([
        "4 events (1 failed, 0 not a fresh write), timed from the moment the API server received the create of `observe` (audit log).",
        "| the four keys in the CR (the watcher's PATCH completed) | 2.000 | 3.500 | 3.500 | 1.000 | 2.167 | 3 | 0.700 |",
        "| `observed` logged by the capability | 3.020 | 4.600 | 4.600 | 2.010 | 3.210 | 3 | 0.920 |",
        "Created → `observed` against the 5 s design bound: median 0.604, p95 0.92, max 0.92. Where the time goes:",
        "| ADDED → Pepr's flush interval fires (writes wait in the cache) | 1900.0 | 3400.0 | 3400.0 | 2066.7 |",
        "| flush fires → API server receives the PATCH | – | – | – | – |",
        "Of the mean 3.210 s, the wait for Pepr's 4 s flush interval is 2.067 s (64 %; from 0.900 s to 3.400 s), the receive debounce and the capability's check 1.032 s (32 %), everything else (watch, PATCH, watch back) 112 ms (3 %).",
      ]),
    );
  });

  it("prints the watcher's API calls per event", () => {
    expect(lines).toEqual(
      expect.arrayContaining([
        "The watcher's PATCHes (user agent `kubernetes-fluent-client`) to the store per event, from its create to the next one's, from the audit log: 0 in 1 of 4 events, 1 in 3 of 4 events. All its calls per event, same windows:",
        "| `patch /apis/x` | 0 | 1 | 0.75 |",
      ]),
    );
  });

  it("prints the scale table, with the rejected size", () => {
    expect(lines).toEqual(
      expect.arrayContaining([
        "| 10 | 3,400 B (0.00 MiB) | 1, 0.4 s | 2.500 | 3.400 | 4.5 | – | 1 | 150.0 MiB / 160.0 MiB |",
        "| 1,000 | 220,450 B (0.21 MiB) | 1, 0.4 s | 2.600 | 3.500 | 60.3 | – | 1 | 150.0 MiB / 160.0 MiB |",
        "| 50,000 | PATCH to 12,000 keys rejected: `Error from server: too large` |",
      ]),
    );
    expect(report).toContain("Each prefill key adds about 140 bytes to the CR.");
  });

  it("prints the limit, the watcher's PATCHes and warnings on the full store, and why", () => {
    expect(lines).toEqual(
      expect.arrayContaining([
        "The store took at most **11,230 prefill keys** (1,572,554 B (1.50 MiB)); one key more was rejected (PATCHes tried in the search: 1): `Error from server: etcdserver: request is too large`.",
        "Then `observe` was created on the full store: no `observed`. The watcher's PATCHes until two flush intervals later (status, seconds after the create): 500 at 0.6 s, 422 at 4.6 s. Its warnings (40) and errors (50), by message: 2 × 50 `Pepr store update failure`, 1 × 40 `re-writing store keys`.",
      ]),
    );
    expect(report).toContain("so the next flush sends `null`s, gets 422 and clears its queue");
    const r = results();
    r.limit.patches = [r.limit.patches[0]];
    expect(renderReport(r)).not.toContain("clears its queue");
  });
});

describe("chart data", () => {
  it("plots the successful runs' latencies in seconds, one series each", () => {
    expect(latencyRows(results())).toEqual([
      { series: "four keys in the CR (n=3)", index: 0, s: 1 },
      { series: "four keys in the CR (n=3)", index: 0, s: 2 },
      { series: "four keys in the CR (n=3)", index: 0, s: 3.5 },
      { series: '"observed" logged (n=3)', index: 1, s: 2.01 },
      { series: '"observed" logged (n=3)', index: 1, s: 3.02 },
      { series: '"observed" logged (n=3)', index: 1, s: 4.6 },
    ]);
  });

  it("bins the latency histogram by 250 ms up to the whole second after the bound", () => {
    const spec = latencySpec(results()) as unknown as {
      data: { values: unknown[] };
      layer: { transform?: { bin?: unknown }[]; data?: { values: unknown[] } }[];
    };
    expect(spec.data.values).toEqual(latencyRows(results()));
    expect(spec.layer[0].transform?.[0].bin).toEqual({ step: 0.25, extent: [0, 6] });
    expect(spec.layer[2].data?.values).toEqual([{ at: 4 }, { at: 5 }]);
  });

  it("plots the CR size, etcd's limit and the median times against the key count", () => {
    const size = "CR size, bytes";
    const time = "median time, ms";
    expect(scaleRows(results())).toEqual([
      { panel: size, series: "CR size", keys: 10, value: 3400 },
      { panel: size, series: "CR size", keys: 1000, value: 220450 },
      { panel: size, series: "CR size", keys: 11230, value: 1572554 },
      { panel: size, series: "etcd --max-request-bytes", keys: 10, value: 1572864 },
      { panel: size, series: "etcd --max-request-bytes", keys: 11230, value: 1572864 },
      { panel: time, series: 'create → "observed"', keys: 10, value: 3400 },
      { panel: time, series: 'create → "observed"', keys: 1000, value: 3500 },
      {
        panel: time,
        series: "create → four keys in the CR (PATCH completed)",
        keys: 10,
        value: 2500,
      },
      {
        panel: time,
        series: "create → four keys in the CR (PATCH completed)",
        keys: 1000,
        value: 2600,
      },
      { panel: time, series: "PATCH received → completed (API server)", keys: 10, value: 4.5 },
      { panel: time, series: "PATCH received → completed (API server)", keys: 1000, value: 60.25 },
    ]);
    const spec = scaleSpec(results()) as unknown as { facet: unknown; data: { values: unknown[] } };
    expect(spec.facet).toEqual({ row: { field: "panel", type: "nominal", title: null } });
    expect(spec.data.values).toEqual(scaleRows(results()));
  });
});
