// The report's two charts as Vega-Lite specs, rendered to SVG by vega's headless View (plain
// Node: no canvas, native build or download; vega-lite 6.5 needs Node 22, hence 6.4.3).
import type * as VegaLite from "vega-lite/build/index";
import type { TopLevelSpec } from "vega-lite/build/index";

import type { BreakdownKey } from "./event";
import type { Results } from "./measure";

/** Histogram bin width of the latency chart, in seconds. */
const BIN_S = 0.25;
/** etcd's default --max-request-bytes: the largest object kube-apiserver can store. */
const ETCD_MAX_BYTES = 1.5 * 2 ** 20;
const BASE = {
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  config: { font: "sans-serif", legend: { orient: "bottom", columns: 2, labelLimit: 0 } },
};
const COLOR = { field: "series", type: "nominal", sort: null, title: null };
const LOG = { type: "log" };
/** The scale chart's times: the median of these durations per key count. */
const SCALE_TIMES: [BreakdownKey, string][] = [
  ["observed", 'create → "observed"'],
  ["persisted", "create → four keys in the CR (PATCH completed)"],
  ["patchServer", "PATCH received → completed (API server)"],
  ["deliveryPepr", "PATCH received → watcher logs the CR"],
];

/** The successful runs' latencies in seconds: the four keys in the CR, and `observed`. */
export function latencyRows(r: Results) {
  const ok = r.latency.runs.filter(run => run.ok);
  const series: [string, BreakdownKey][] = [
    ["four keys in the CR", "persisted"],
    ['"observed" logged', "observed"],
  ];
  return series.flatMap(([label, key], index) => {
    const ms = ok.flatMap(run => run.ms[key] ?? []);
    return ms.map(v => ({ series: `${label} (n=${ms.length})`, index, s: v / 1000 }));
  });
}

/** Histogram (left axis) and CDF (right axis) of both latencies, with the flush and the bound. */
export function latencySpec(r: Results): TopLevelSpec {
  const rows = latencyRows(r);
  const [flush, bound] = [r.pepr.flushIntervalMs / 1000, r.designBoundMs / 1000];
  const maxS = Math.ceil(Math.max(...rows.map(x => x.s), bound) + BIN_S);
  const x = { field: "s", type: "quantitative", scale: { domain: [0, maxS], nice: false } };
  const marks = { values: [flush, bound].map(at => ({ at })) };
  const cdf = { window: [{ op: "cume_dist", as: "share" }], groupby: ["series"] };
  // One bar per series in each bin, side by side: bin, then shift by the series' index.
  const histogram = {
    transform: [
      { bin: { step: BIN_S, extent: [0, maxS] }, field: "s", as: "bin" },
      { calculate: `datum.bin + datum.index * ${BIN_S / 2}`, as: "x0" },
      { calculate: `datum.x0 + ${BIN_S * 0.45}`, as: "x1" },
    ],
    mark: { type: "bar", opacity: 0.6 },
    encoding: {
      x: {
        ...x,
        field: "x0",
        title: `seconds after the create (dashed: ${flush} s flush interval, ${bound} s design bound)`,
      },
      x2: { field: "x1" },
      y: { aggregate: "count", title: `runs per ${BIN_S * 1000} ms bin`, axis: { tickMinStep: 1 } },
      color: COLOR,
    },
  };
  const share = { field: "share", type: "quantitative", axis: { orient: "right", format: "~%" } };
  const spec = {
    ...BASE,
    title: `ConfigMap observe created → four keys in the CR / "observed" logged`,
    width: 680,
    height: 320,
    data: { values: rows },
    layer: [
      histogram,
      {
        transform: [{ ...cdf, sort: [{ field: "s" }] }],
        mark: { type: "line", interpolate: "step-after" },
        encoding: { x, y: { ...share, title: "cumulative share of runs" }, color: COLOR },
      },
      {
        data: marks,
        mark: { type: "rule", strokeDash: [5, 4] },
        encoding: { x: { field: "at", type: "quantitative" } },
      },
    ],
    resolve: { scale: { y: "independent" } },
  };
  return spec as unknown as TopLevelSpec;
}

/** The scale chart's points: per key count, the CR size (and etcd's limit) and the median times. */
export function scaleRows(r: Results) {
  const measured = r.scale.filter(s => s.objectBytes !== undefined);
  const sizes = [...measured, { storedKeys: r.limit.maxKeys, objectBytes: r.limit.maxObjectBytes }];
  const [first, last] = [sizes[0].storedKeys, r.limit.maxKeys];
  const point = (panel: string, series: string, keys: number, value?: number) =>
    value ? [{ panel, series, keys, value }] : [];
  const bytes = "CR size, bytes";
  return [
    ...sizes.flatMap(s => point(bytes, "CR size", s.storedKeys, s.objectBytes)),
    ...[first, last].flatMap(k => point(bytes, "etcd --max-request-bytes", k, ETCD_MAX_BYTES)),
    ...SCALE_TIMES.flatMap(([key, series]) =>
      measured.flatMap(s =>
        point("median time, ms", series, s.storedKeys, s.summary?.[key]?.median),
      ),
    ),
  ];
}

/** The CR size against etcd's request limit, and the median times, over the key count, log-log. */
export function scaleSpec(r: Results): TopLevelSpec {
  const rows = scaleRows(r);
  const axis = { tickCount: 4, format: "~s" };
  const x = { field: "keys", type: "quantitative", scale: LOG, axis };
  const y = { field: "value", type: "quantitative", scale: LOG, axis };
  const spec = {
    ...BASE,
    title: "One PeprStore: CR size and median times against the number of keys",
    data: { values: rows },
    facet: { row: { field: "panel", type: "nominal", title: null } },
    spec: {
      width: 690,
      height: 250,
      mark: { type: "line", point: true },
      encoding: { x: { ...x, title: "keys in the store" }, y: { ...y, title: null }, color: COLOR },
    },
    resolve: { scale: { y: "independent" } },
  };
  return spec as unknown as TopLevelSpec;
}

/** Renders a Vega-Lite spec to SVG, one element per line so that a new chart diffs by line. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  // vega-lite declares its types only under `exports`, which bench's node10 resolution does not
  // read: the types come by path, the module by its name. vega is ESM with top-level await.
  const vl = (await import("vega-lite" as string)) as typeof VegaLite;
  const vega = await import("vega");
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: "none" });
  return `${(await view.toSVG()).replace(/></g, ">\n<")}\n`;
}

export const latencyChart = (r: Results) => renderSvg(latencySpec(r));
export const scaleChart = (r: Results) => renderSvg(scaleSpec(r));
