// The benchmark's report and chart data (bench/report.ts, bench/charts.ts) from a small
// results.json made up here: every figure they print or plot, exactly.
import {
  decades,
  latencyMarkers,
  latencyRows,
  latencySpec,
  scaleSpec,
  sizeRows,
  timeRows,
} from "../../bench/charts";
import { renderReport } from "../../bench/report";
import type { Durations, Results, ScaleStep } from "../../bench/results";
import type { EventRun } from "../../bench/event";
import type { Summary } from "../../bench/stats";

const MIB = 2 ** 20;

function run(ms: Durations, extra: Partial<EventRun> = {}): EventRun & { ms: Durations } {
  return { ok: true, fresh: true, spawnAt: 0, errors: [], patches: 1, ...extra, ms };
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

function scaleStep(keys: number, bytes: number, medians: Durations): ScaleStep {
  const s = (v: number | undefined) => (v === undefined ? undefined : summary(1, v, v, v, v, v));
  return {
    keys,
    storedKeys: keys,
    prefillMs: 400,
    prefillPatches: 1,
    runs: [run(medians, { objectBytes: bytes })],
    summary: Object.fromEntries(Object.entries(medians).map(([k, v]) => [k, s(v)])),
    objectBytes: bytes,
    watcher: sample(150, 160, 3),
  };
}

/** Three runs (one failed), two scale steps, and the limit. */
function results(): Results {
  return {
    date: "2026-01-02T03:04:05.000Z",
    command: "npm run bench",
    config: { runs: 3, scale: [10, 1000], scaleRuns: 1, prefillChunk: 2000 },
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
    load: { start: 0.5, end: 0.7, min: 0.3, max: 1.2, mean: 0.6, samples: 10 },
    wallSeconds: 123.4,
    controlPlane: {
      buildCheckSeconds: 0.5,
      startWallSeconds: 3.6,
      readyLineStartSeconds: 3.5,
      peakRssBytes: 400 * MIB,
      cpuSeconds: 20.25,
    },
    watcher: {
      startWallSeconds: 2.5,
      startupCalls: [{ verb: "get", path: "/api/v1/x", count: 2, codes: [200, 404] }],
      startupGetListWatch: 2,
      startupAllCalls: 2,
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
      patchesPerEvent: { mean: 0.75, min: 0, max: 1, counts: { "0": 1, "1": 3 } },
      callsPerEvent: { "patch /apis/x": { min: 0, max: 1, mean: 0.75 } },
      ratio: { median: 0.604, p95: 0.92, max: 0.92 },
    },
    scale: [
      scaleStep(10, 3400, { persisted: 2500, observed: 3400, patchServer: 4.5 }),
      scaleStep(1000, 220450, { persisted: 2600, observed: 3500, patchServer: 60.25 }),
    ],
    prefill: { keyBytes: 40, valueBytes: 64, storedKeyBytes: 69 },
    limit: {
      maxKeys: 11230,
      maxObjectBytes: 1572554,
      prefillError: "Error from server: etcdserver: request is too large\nmore",
      event: run({}, { ok: false, outcome: "failed", createdAt: 1000, endedAt: 68500 }),
      patches: [{ code: 500, afterCreateMs: 3990, body: '[{"op":"add","path":"/data/k"}]' }],
      calls: [{ verb: "patch", path: "/apis/x", count: 1, codes: [500] }],
      records: [{ time: 5000, level: 50, msg: "store writes not confirmed", detail: "{}" }],
      recovery: { ...run({ observed: 2500 }), patchCodesAfter: [200] },
      steps: [{ keys: 11230, ok: true }],
    },
    summary: { median_s: 3.02, p95_s: 4.6, ratio_to_bound: 0.92, patches_per_event: 0.75 },
  };
}

describe("renderReport", () => {
  const report = renderReport(results());
  const lines = report.split("\n");

  it("renders the sections in order", () => {
    expect(lines.filter(l => l.startsWith("#"))).toEqual([
      "# Benchmark: Pepr Store persistence on the local control plane",
      "## Headline",
      "## Machine and run",
      "## Event to persisted",
      "## API calls",
      "## Cost",
      "## Scale",
      "## The limit",
      "## How it is measured",
    ]);
    expect(report.endsWith("port 3000.\n")).toBe(true);
  });

  it("prints the headline figures", () => {
    expect(lines).toEqual(
      expect.arrayContaining([
        "| ConfigMap `observe` created → `observed` logged, median | 3.020 s |",
        "| … p95 / max | 4.600 s / 4.600 s |",
        "| p95 / design bound (4 s flush + 1 s debounce = 5 s) | 0.92 |",
        "| created → the four keys visible in the CR (watch), median / p95 / max | 2.000 s / 3.500 s / 3.500 s |",
        "| PATCHes to the PeprStore per event (goal 1) | 0.75 (min 0, max 1, 4 events) |",
        "| all API calls of the watcher per event (mean) | 0.75 PATCH |",
        "| GET/LIST/WATCH calls of the watcher during start-up | 2 (of 2 calls) |",
        "| watcher peak RSS / CPU time, whole run | 204.4 MiB / 5.67 s |",
        "| control plane start (ready line / wall time of `startControlPlane`) | 3.5 s / 3.6 s |",
        "| largest store that persists | 11,230 prefill keys, 1,572,554 B (1.50 MiB) |",
        "3.02 4.6 0.92 0.75",
      ]),
    );
  });

  it("prints the latency tables, ratios and what dominates", () => {
    expect(lines).toEqual(
      expect.arrayContaining([
        "4 events (1 failed, 0 not a fresh write). Each: delete `observe` if present, remove the capability's four keys with a JSON merge patch, wait until the watcher's in-memory store has the reset, wait for the aimed phase of the flush interval, create `observe`. Times count from the moment the API server received the create (audit log).",
        "| four keys visible in the CR (benchmark's watch) | 2.000 | 3.500 | 3.500 | 1.000 | 2.167 | 3 | 0.700 |",
        "| `observed` logged by the capability | 3.020 | 4.600 | 4.600 | 2.010 | 3.210 | 3 | 0.920 |",
        "Ratios to the 5 s design bound for created → `observed`: median 0.604, p95 0.92, max 0.92.",
        "| ADDED → Pepr's flush interval fires (writes wait in the cache) | 1900.0 | 3400.0 | 3400.0 | 2066.7 |",
        "| flush fires → API server receives the PATCH | – | – | – | – |",
      ]),
    );
    expect(report).toContain(
      "Of the mean 3.210 s from create to `observed`, 2.067 s (64 %) is the wait for Pepr's 4 s flush interval and 1.032 s (32 %) the 1 s receive debounce",
    );
    expect(report).toContain("is 112 ms (3 %). So the wait for the flush interval dominates.");
  });

  it("prints the calls, the cost and the machine", () => {
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringContaining(
          "from the audit log: 1 event with 0 PATCHes, 3 events with 1 PATCH.",
        ),
        "| `patch /apis/x` | 0 | 1 | 0.75 |",
        "| get | `/api/v1/x` | 2 | 200, 404 |",
        "| after start-up | 110.0 MiB | 100.0 MiB | 1.00 |",
        "| after the 4 latency events | 130.0 MiB | 120.0 MiB | 1.75 |",
        "| end (after the scale and limit phases) | 204.4 MiB | 200.0 MiB | 5.67 |",
        "| settings | 3 latency runs; prefill sizes 10, 1000; 1 event per size; 2000 keys per prefill PATCH |",
        "| 1-minute load average | start 0.5, mean 0.6, max 1.2, end 0.7 (10 samples, every 5 s) |",
      ]),
    );
    expect(report).toContain("CPU time of the latency phase alone: 0.75 s for 4 events.");
    expect(report).toContain("peak RSS 400.0 MiB, CPU 20.25 s over the run");
  });

  it("prints the scale table and the limit", () => {
    expect(lines).toEqual(
      expect.arrayContaining([
        "| 10 | 3,400 B (0.00 MiB) | 1 PATCH, 0.4 s | 2.500 s | 3.400 s | 4.5 | – | – | 1 | 150.0 MiB / 160.0 MiB |",
        "| 1,000 | 220,450 B (0.21 MiB) | 1 PATCH, 0.4 s | 2.600 s | 3.500 s | 60.3 | – | – | 1 | 150.0 MiB / 160.0 MiB |",
        "Error from server: etcdserver: request is too large",
        "| 4.0 | 500 | `add /data/k` |",
        "| 4.0 | 50 | `store writes not confirmed` | `{}` |",
      ]),
    );
    expect(report).toContain(
      "The store took at most **11,230 prefill keys** (1,572,554 B (1.50 MiB) as sent on the watch); one key more was rejected (bisected in 1 PATCHes).",
    );
    expect(report).toContain("The callback failed: its final error came 67.5 s after the create");
    expect(report).toContain("Each prefill key adds about 219 bytes to the CR");
    expect(report).toContain(
      "the module recovered: `observed` after 2.500 s; the watcher's PATCH status codes from that create on: 200.",
    );
  });

  it("leaves the limit out when none was found", () => {
    const r = results();
    delete r.limit;
    const report = renderReport(r);
    expect(report).not.toContain("## The limit");
    expect(report).toContain("| largest store that persists | not reached |");
  });
});

describe("chart data", () => {
  it("plots the successful runs' samples in seconds, one series each", () => {
    expect(latencyRows(results())).toEqual([
      { series: "four keys visible in the CR (watch) (n=3)", index: 0, s: 1 },
      { series: "four keys visible in the CR (watch) (n=3)", index: 0, s: 2 },
      { series: "four keys visible in the CR (watch) (n=3)", index: 0, s: 3.5 },
      { series: '"observed" logged (n=3)', index: 1, s: 2.01 },
      { series: '"observed" logged (n=3)', index: 1, s: 3.02 },
      { series: '"observed" logged (n=3)', index: 1, s: 4.6 },
    ]);
    expect(latencyMarkers(results())).toEqual([
      { s: 4, label: "4 s flush interval", row: 0 },
      { s: 5, label: "5 s design bound", row: 1 },
    ]);
  });

  it("bins the latency histogram by 250 ms up to the whole second after the bound", () => {
    const spec = latencySpec(results()) as unknown as {
      title: string;
      data: { values: unknown[] };
      encoding: { x: { scale: { domain: number[] }; axis: { values: number[] } } };
      layer: { transform?: { bin?: { step: number; extent: number[] } }[] }[];
    };
    expect(spec.title).toBe('ConfigMap created → four keys in the CR / "observed" logged (3 runs)');
    expect(spec.data.values).toEqual(latencyRows(results()));
    expect(spec.encoding.x.scale.domain).toEqual([0, 6]);
    expect(spec.encoding.x.axis.values).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(spec.layer[0].transform?.[0].bin).toEqual({ step: 0.25, extent: [0, 6] });
  });

  it("plots the CR size (with the limit) and the median times against the key count", () => {
    expect(sizeRows(results())).toEqual([
      { series: "CR size as sent on the watch (bytes)", keys: 10, value: 3400 },
      { series: "CR size as sent on the watch (bytes)", keys: 1000, value: 220450 },
      { series: "CR size as sent on the watch (bytes)", keys: 11230, value: 1572554 },
    ]);
    expect(timeRows(results())).toEqual([
      { series: 'create → "observed"', keys: 10, value: 3400 },
      { series: 'create → "observed"', keys: 1000, value: 3500 },
      { series: "create → four keys in the CR", keys: 10, value: 2500 },
      { series: "create → four keys in the CR", keys: 1000, value: 2600 },
      { series: "PATCH received → completed (API server)", keys: 10, value: 4.5 },
      { series: "PATCH received → completed (API server)", keys: 1000, value: 60.25 },
    ]);
  });

  it("draws the scale panels over whole decades", () => {
    expect(decades([3400, 1572554])).toEqual([1e3, 1e4, 1e5, 1e6, 1e7]);
    expect(decades([10, 11230])).toEqual([10, 100, 1000, 10000, 100000]);
    const spec = scaleSpec(results()) as unknown as {
      vconcat: { layer: { encoding?: { x?: { axis?: { values?: number[] } } } }[] }[];
    };
    const xTicks = spec.vconcat.map(panel => panel.layer[0].encoding?.x?.axis?.values);
    expect(xTicks).toEqual([
      [10, 100, 1000, 10000, 100000],
      [10, 100, 1000, 10000, 100000],
    ]);
  });
});
