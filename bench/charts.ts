// The report's two charts as Vega-Lite specs rendered to SVG: the latency distribution (histogram
// + CDF) and the scale curves (CR size and times against the key count, log scales).
// Library: Vega-Lite (vega 6.4.0 + vega-lite 6.4.3), maintained, declarative, and vega's
// View.toSVG() renders headless in plain Node with no canvas, native build or download
// (vega-lite 6.5 needs Node 22, so 6.4.3).
import type * as VegaLite from "vega-lite/build/index";
import type { TopLevelSpec } from "vega-lite/build/index";
import type { LayerSpec } from "vega-lite/build/spec";

import type { BreakdownKey, Results } from "./results";

type Layer = LayerSpec<string>["layer"][number];
/** The colour encoding the latency chart's histogram and CDF share (one colour per series). */
type SeriesColor = {
  field: "series";
  type: "nominal";
  scale: { domain: string[]; scheme: string };
  legend: { title: null; orient: "bottom"; direction: "horizontal"; labelLimit: 0 };
};

/** Histogram bin width of the latency chart, in seconds. */
const BIN_S = 0.25;
/** etcd's default --max-request-bytes: the largest object kube-apiserver can store. */
const ETCD_MAX_REQUEST_BYTES = 1.5 * 2 ** 20;
/** 12 px sans-serif text and a black frame around each plot, as the hand-drawn charts had. */
const CONFIG = {
  font: "sans-serif",
  title: { fontSize: 13, anchor: "middle" as const },
  axis: { labelFontSize: 12, titleFontSize: 12, titleFontWeight: "normal" as const },
  legend: { labelFontSize: 12, labelLimit: 0 },
  text: { fontSize: 12 },
  view: { stroke: "black" },
};

/** The time series of the scale chart: the medians of these durations per key count. */
const SCALE_TIMES: { key: BreakdownKey; label: string }[] = [
  { key: "observed", label: 'create → "observed"' },
  { key: "persisted", label: "create → four keys in the CR" },
  { key: "patchServer", label: "PATCH received → completed (API server)" },
  { key: "deliveryBench", label: "PATCH received → benchmark watch" },
  { key: "deliveryPepr", label: "PATCH received → watcher logs the CR" },
];

/** One latency sample (seconds after the create) of one series, with the series' index. */
export interface LatencyRow {
  series: string;
  index: number;
  s: number;
}

/** The latency samples of the successful runs: CR visible on the watch, and `observed`. */
export function latencyRows(r: Results): LatencyRow[] {
  const ok = r.latency.runs.filter(run => run.ok);
  const series = [
    { label: "four keys visible in the CR (watch)", ms: ok.flatMap(x => x.ms.persisted ?? []) },
    { label: '"observed" logged', ms: ok.flatMap(x => x.ms.observed ?? []) },
  ];
  return series.flatMap((s, index) =>
    s.ms.map(ms => ({ series: `${s.label} (n=${s.ms.length})`, index, s: ms / 1000 })),
  );
}

/** Vertical markers of the latency chart: the flush interval and the design bound, in s. */
export function latencyMarkers(r: Results): { s: number; label: string; row: number }[] {
  const flush = r.pepr.flushIntervalMs / 1000;
  const bound = r.designBoundMs / 1000;
  return [
    { s: flush, label: `${flush} s flush interval`, row: 0 },
    { s: bound, label: `${bound} s design bound`, row: 1 },
  ];
}

/** Histogram bars (left axis), one bar per series side by side within each bin. */
function histogramLayer(maxS: number, seriesCount: number, color: SeriesColor): Layer {
  const width = BIN_S / seriesCount;
  return {
    transform: [
      { bin: { step: BIN_S, extent: [0, maxS] }, field: "s", as: "bin" },
      { aggregate: [{ op: "count", as: "runs" }], groupby: ["bin", "bin_end", "series", "index"] },
      { calculate: `datum.bin + datum.index * ${width}`, as: "x0" },
      { calculate: `datum.x0 + ${width * 0.9}`, as: "x1" },
    ],
    mark: { type: "rect", opacity: 0.45 },
    encoding: {
      x: { field: "x0", type: "quantitative" },
      x2: { field: "x1" },
      y: {
        field: "runs",
        type: "quantitative",
        scale: { zero: true },
        axis: { title: `runs per ${BIN_S * 1000} ms bin`, tickMinStep: 1 },
      },
      y2: { datum: 0 },
      color,
    },
  };
}

/** The empirical CDF of each series (right axis). */
function cdfLayer(color: SeriesColor): Layer {
  return {
    transform: [
      { window: [{ op: "cume_dist", as: "share" }], sort: [{ field: "s" }], groupby: ["series"] },
    ],
    mark: { type: "line", interpolate: "step-after", strokeWidth: 2 },
    encoding: {
      x: { field: "s", type: "quantitative" },
      y: {
        field: "share",
        type: "quantitative",
        scale: { domain: [0, 1] },
        axis: {
          title: "cumulative share of runs",
          orient: "right",
          format: "~%",
          values: [0, 0.25, 0.5, 0.75, 1],
          grid: false,
        },
      },
      color,
    },
  };
}

/** Dashed vertical rules with a label each, staggered by `row`. */
function markerLayers(markers: { s: number; label: string; row: number }[]): Layer[] {
  const data = { values: markers };
  return [
    {
      data,
      mark: { type: "rule", strokeDash: [5, 4], color: "#555" },
      encoding: { x: { field: "s", type: "quantitative" } },
    },
    {
      data,
      transform: [{ calculate: "140 + datum.row * 16", as: "y" }],
      mark: { type: "text", align: "left", dx: 4, color: "#333" },
      encoding: {
        x: { field: "s", type: "quantitative" },
        y: { field: "y", type: "quantitative", scale: null, axis: null },
        text: { field: "label" },
      },
    },
  ];
}

/** Histogram and CDF of created → CR visible and created → `observed`, with the bound. */
export function latencySpec(r: Results): TopLevelSpec {
  const rows = latencyRows(r);
  const markers = latencyMarkers(r);
  const runs = r.latency.runs.filter(run => run.ok).length;
  const maxS = Math.ceil(Math.max(...rows.map(x => x.s), ...markers.map(m => m.s)) + BIN_S);
  const series = [...new Set(rows.map(x => x.series))];
  const color: SeriesColor = {
    field: "series",
    type: "nominal",
    scale: { domain: series, scheme: "category10" },
    legend: { title: null, orient: "bottom", direction: "horizontal", labelLimit: 0 },
  };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `ConfigMap created → four keys in the CR / "observed" logged (${runs} runs)`,
    width: 680,
    height: 320,
    config: CONFIG,
    data: { values: rows },
    encoding: {
      x: {
        scale: { domain: [0, maxS], nice: false },
        axis: {
          title: "time after the API server received the ConfigMap create",
          values: Array.from({ length: maxS + 1 }, (_, i) => i),
          labelExpr: "datum.value + ' s'",
        },
      },
    },
    layer: [histogramLayer(maxS, series.length, color), cdfLayer(color), ...markerLayers(markers)],
    resolve: { scale: { y: "independent" } },
  };
}

/** One point of a scale curve: a key count and a value (bytes or ms). */
export interface ScaleRow {
  series: string;
  keys: number;
  value: number;
}

/** The CR size per key count, and at the limit. */
export function sizeRows(r: Results): ScaleRow[] {
  const series = "CR size as sent on the watch (bytes)";
  const rows = r.scale.flatMap(s =>
    s.runs.some(x => x.ok) && s.objectBytes !== undefined
      ? [{ series, keys: s.storedKeys, value: s.objectBytes }]
      : [],
  );
  if (r.limit?.maxObjectBytes !== undefined) {
    rows.push({ series, keys: r.limit.maxKeys, value: r.limit.maxObjectBytes });
  }
  return rows;
}

/** The median times per key count, one series per duration of SCALE_TIMES. */
export function timeRows(r: Results): ScaleRow[] {
  const measured = r.scale.filter(s => s.runs.some(x => x.ok));
  return SCALE_TIMES.flatMap(({ key, label }) =>
    measured.flatMap(s => {
      const v = s.summary[key]?.median;
      return v === undefined || v <= 0 ? [] : [{ series: label, keys: s.storedKeys, value: v }];
    }),
  );
}

/** Powers of ten covering [min, max]: the log axes' ticks and domain. */
export function decades(values: number[]): number[] {
  const lo = Math.floor(Math.log10(Math.min(...values)));
  const hi = Math.ceil(Math.log10(Math.max(...values)));
  return Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i));
}

/** A log axis over whole decades, the ticks at the powers of ten. */
function logScale(ticks: number[]) {
  return {
    type: "log" as const,
    domain: [ticks[0], ticks[ticks.length - 1]],
    nice: false,
    padding: 0,
  };
}

/** One log-log panel: the rows as lines with points, and dashed reference lines. */
function scalePanel(
  panel: { rows: ScaleRow[]; yTitle: string; yLabel: string; rules: Layer[]; yExtra?: number },
  xTicks: number[],
): LayerSpec<string> {
  const yTicks = decades(panel.rows.map(x => x.value).concat(panel.yExtra ?? []));
  return {
    width: 690,
    height: 250,
    layer: [
      {
        data: { values: panel.rows },
        mark: { type: "line", point: true, strokeWidth: 2 },
        encoding: {
          x: {
            field: "keys",
            type: "quantitative",
            scale: logScale(xTicks),
            axis: { title: "keys in the store (log scale)", format: "~s", values: xTicks },
          },
          y: {
            field: "value",
            type: "quantitative",
            scale: logScale(yTicks),
            axis: { title: panel.yTitle, labelExpr: panel.yLabel, values: yTicks },
          },
          color: {
            field: "series",
            type: "nominal",
            sort: null,
            scale: { scheme: "category10" },
            legend: { title: null, orient: "bottom", columns: 2, labelLimit: 0 },
          },
        },
      },
      ...panel.rules,
    ],
  };
}

/** A dashed vertical rule at the largest storable key count, labelled at the bottom. */
function maxKeysRule(keys: number): Layer[] {
  const data = { values: [{ keys, label: `max ${keys} keys` }] };
  return [
    {
      data,
      mark: { type: "rule", strokeDash: [5, 4], color: "#555" },
      encoding: { x: { field: "keys", type: "quantitative" } },
    },
    {
      data,
      mark: { type: "text", align: "right", dx: -4, y: "height", dy: -8, color: "#333" },
      encoding: { x: { field: "keys", type: "quantitative" }, text: { field: "label" } },
    },
  ];
}

/** A dashed horizontal rule at etcd's request limit, labelled above it on the left. */
function sizeLimitRule(): Layer[] {
  const data = {
    values: [{ value: ETCD_MAX_REQUEST_BYTES, label: "etcd --max-request-bytes default: 1.5 MiB" }],
  };
  return [
    {
      data,
      mark: { type: "rule", strokeDash: [6, 4], color: "#d62728" },
      encoding: { y: { field: "value", type: "quantitative" } },
    },
    {
      data,
      mark: { type: "text", align: "left", x: 6, dy: -8, color: "#d62728" },
      encoding: { y: { field: "value", type: "quantitative" }, text: { field: "label" } },
    },
  ];
}

const BYTES_LABEL =
  "datum.value >= 1e6 ? datum.value / 1e6 + ' MB' : datum.value >= 1e3 ? datum.value / 1e3 + ' kB' : datum.value + ' B'";
const MS_LABEL = "datum.value >= 1000 ? datum.value / 1000 + ' s' : datum.value + ' ms'";

/** Two panels over the key count: the CR size with etcd's limit, and the median times. */
export function scaleSpec(r: Results): TopLevelSpec {
  const size = sizeRows(r);
  const times = timeRows(r);
  const maxKeys = r.limit ? maxKeysRule(r.limit.maxKeys) : [];
  const xTicks = decades([...size, ...times].map(x => x.keys).concat(r.limit?.maxKeys ?? []));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "One PeprStore: CR size and times against the number of keys",
    config: CONFIG,
    vconcat: [
      scalePanel(
        {
          rows: size,
          yTitle: "CR size (log scale)",
          yLabel: BYTES_LABEL,
          rules: [...sizeLimitRule(), ...maxKeys],
          yExtra: ETCD_MAX_REQUEST_BYTES,
        },
        xTicks,
      ),
      scalePanel(
        { rows: times, yTitle: "time, median (log scale)", yLabel: MS_LABEL, rules: maxKeys },
        xTicks,
      ),
    ],
    resolve: { scale: { color: "independent" }, legend: { color: "independent" } },
  };
}

/** Renders a Vega-Lite spec to SVG with vega's headless renderer. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // vega-lite declares its types only under `exports`, which bench's node10 resolution does not
  // read: the types come by path, the module by its package name.
  const vl = (await import("vega-lite" as string)) as typeof VegaLite;
  // ES module with top-level await (vega-canvas): import(), not require().
  const vega = await import("vega");
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: "none" });
  // One element per line, so that a new run's chart diffs line by line in git.
  return `${(await view.toSVG()).replace(/></g, ">\n<")}\n`;
}

/** bench/latency.svg */
export async function latencyChart(r: Results): Promise<string> {
  return renderSvg(latencySpec(r));
}

/** bench/scale.svg */
export async function scaleChart(r: Results): Promise<string> {
  return renderSvg(scaleSpec(r));
}
