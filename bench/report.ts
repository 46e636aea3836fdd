// bench/REPORT.md from the results of one run: every number in it comes from `Results`.
import { storeName } from "../store/contract";
import type { ProcSample } from "./proc";
import type { BreakdownKey, LimitResult, Results, ScaleStep } from "./results";
import { KEY_PREFIX } from "./event";
import type { Summary } from "./stats";

const s3 = (ms: number | undefined): string => (ms === undefined ? "–" : (ms / 1000).toFixed(3));
const ms1 = (ms: number | undefined): string => (ms === undefined ? "–" : ms.toFixed(1));
const mib = (b: number | undefined): string =>
  b === undefined ? "–" : `${(b / 2 ** 20).toFixed(1)} MiB`;
const bytes = (b: number | undefined): string =>
  b === undefined ? "–" : `${b.toLocaleString("en-US")} B (${(b / 2 ** 20).toFixed(2)} MiB)`;
const int = (n: number): string => n.toLocaleString("en-US");
const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

function row(cells: (string | number)[]): string {
  return `| ${cells.map(c => String(c).replace(/\|/g, "\\|")).join(" | ")} |`;
}

function table(head: string[], rows: (string | number)[][]): string {
  return [row(head), row(head.map(() => "---")), ...rows.map(row)].join("\n");
}

/** Short descriptions of the per-run durations, in the order they happen. */
const STEPS: { key: BreakdownKey; label: string }[] = [
  { key: "toCallback", label: "create received → watcher receives ADDED (callback runs)" },
  { key: "waitFlush", label: "ADDED → Pepr's flush interval fires (writes wait in the cache)" },
  { key: "flushToPatch", label: "flush fires → API server receives the PATCH" },
  { key: "deliveryPepr", label: "PATCH received → watcher receives the CR (its watch)" },
  {
    key: "debounce",
    label:
      'watcher receives the CR → "observed" (receive debounce, then the capability\'s own check)',
  },
];
/** Two durations beside the chain, shown after it in brackets. */
const ASIDES: { key: BreakdownKey; label: string }[] = [
  { key: "patchServer", label: "(the PATCH itself, received → completed at the API server)" },
  { key: "deliveryBench", label: "(PATCH received → the benchmark's watch receives the CR)" },
];

function summaryRow(label: string, s: Summary | undefined, boundMs?: number): string[] {
  if (!s) return [label, "–", "–", "–", "–", "–", "–"];
  const cells = [label, s3(s.median), s3(s.p95), s3(s.max), s3(s.min), s3(s.mean), String(s.n)];
  if (boundMs !== undefined) cells.push((s.p95 / boundMs).toFixed(3));
  return cells;
}

function firstLine(s: string): string {
  return s.split("\n")[0];
}

/** A section of the report: Markdown blocks (paragraphs, tables, fences), in order. */
type Section = (r: Results) => string[];

/** The report: each section renders its own blocks; blank lines between blocks. */
export function renderReport(r: Results): string {
  const sections: Section[] = [
    header,
    headline,
    machineAndRun,
    eventToPersisted,
    apiCalls,
    cost,
    scale,
    limit,
    method,
  ];
  return sections.flatMap(section => section(r)).join("\n\n") + "\n";
}

function header(r: Results): string[] {
  return [
    "# Benchmark: Pepr Store persistence on the local control plane",
    `Written by \`${r.command}\` (\`bench/run.ts\`) on ${r.date}. Every figure on this page comes ` +
      "from that one run on the machine below; the raw numbers are in " +
      "[`results.json`](results.json).",
  ];
}

function headline(r: Results): string[] {
  const s = r.summary;
  return [
    "## Headline",
    table(["figure", "value"], [...latencyHeadlines(r), ...costHeadlines(r)]),
    "The summary line the benchmark prints last (`median_s p95_s ratio_to_bound patches_per_event`, " +
      "latency = created → `observed`, ratio = p95 / design bound):",
    ["```text", `${s.median_s} ${s.p95_s} ${s.ratio_to_bound} ${s.patches_per_event}`, "```"].join(
      "\n",
    ),
  ];
}

/** Headline rows: the latency and the API calls per event. */
function latencyHeadlines(r: Results): string[][] {
  const L = r.latency;
  const obs = L.summary.observed;
  const per = L.summary.persisted;
  const { flushIntervalMs: flush, receiveDebounceMs: debounce } = r.pepr;
  const ppe = L.patchesPerEvent;
  const calls = Object.entries(L.callsPerEvent ?? {})
    .map(([call, n]) => `${n.mean} ${call.split(" ")[0].toUpperCase()}`)
    .join(" + ");
  return [
    ["ConfigMap `observe` created → `observed` logged, median", `${s3(obs?.median)} s`],
    ["… p95 / max", `${s3(obs?.p95)} s / ${s3(obs?.max)} s`],
    [
      `p95 / design bound (${flush / 1000} s flush + ${debounce / 1000} s debounce = ${r.designBoundMs / 1000} s)`,
      `${L.ratio.p95}`,
    ],
    [
      "created → the four keys visible in the CR (watch), median / p95 / max",
      `${s3(per?.median)} s / ${s3(per?.p95)} s / ${s3(per?.max)} s`,
    ],
    [
      "PATCHes to the PeprStore per event (goal 1)",
      `${ppe.mean} (min ${ppe.min}, max ${ppe.max}, ${L.runs.length} events)`,
    ],
    ["all API calls of the watcher per event (mean)", calls || "–"],
  ];
}

/** Headline rows: start-up calls, cost, control plane start and the limit. */
function costHeadlines(r: Results): string[][] {
  const w = r.watcher;
  const cp = r.controlPlane;
  return [
    [
      "GET/LIST/WATCH calls of the watcher during start-up",
      `${w.startupGetListWatch} (of ${w.startupAllCalls} calls)`,
    ],
    [
      "watcher peak RSS / CPU time, whole run",
      `${mib(w.end.peakRssBytes)} / ${w.end.cpuSeconds.toFixed(2)} s`,
    ],
    [
      "control plane start (ready line / wall time of `startControlPlane`)",
      `${cp.readyLineStartSeconds ?? "–"} s / ${cp.startWallSeconds} s`,
    ],
    [
      "largest store that persists",
      r.limit
        ? `${int(r.limit.maxKeys)} prefill keys, ${bytes(r.limit.maxObjectBytes)}`
        : "not reached",
    ],
  ];
}

function machineAndRun(r: Results): string[] {
  const m = r.machine;
  const { flushIntervalMs: flush, receiveDebounceMs: debounce } = r.pepr;
  const dirty = r.module.dirty;
  const c = r.config;
  const rows = [
    ["CPU", `${m.cpuModel} (/proc/cpuinfo), ${m.cores} cores`],
    ["RAM", `${m.ramGiB} GiB`],
    ["OS", m.kernel],
    ["Node", m.node],
    ["Go (control plane build)", m.go],
    ["kube-apiserver / kubectl", m.kubernetes],
    ["etcd (embedded)", m.etcd],
    [
      "Pepr",
      `${r.pepr.version} (flush every ${flush} ms, receive debounce ${debounce} ms, setItemAndWait limit ${r.pepr.maxWaitMs} ms, read from its sources)`,
    ],
    [
      "module",
      `commit ${r.module.commit}, ${dirty.length === 0 ? "sources clean" : `uncommitted: ${dirty.join("; ")}`}`,
    ],
    ["command", `\`${r.command}\``],
    ["date", r.date],
    [
      "settings",
      `${c.runs} latency runs; prefill sizes ${c.scale.join(", ")}; ${plural(c.scaleRuns, "event")} per size; ${c.prefillChunk} keys per prefill PATCH`,
    ],
    ["total wall time", `${r.wallSeconds} s`],
    [
      "1-minute load average",
      `start ${r.load.start}, mean ${r.load.mean}, max ${r.load.max}, end ${r.load.end} (${r.load.samples} samples, every 5 s)`,
    ],
  ];
  return ["## Machine and run", table(["", ""], rows)];
}

function eventToPersisted(r: Results): string[] {
  const L = r.latency;
  const bound = r.designBoundMs;
  return [
    "## Event to persisted",
    `${L.runs.length} events (${L.failures} failed, ${L.notFresh} not a fresh write). Each: delete ` +
      "`observe` if present, remove the capability's four keys with a JSON merge patch, wait until the " +
      "watcher's in-memory store has the reset, wait for the aimed phase of the flush interval, create " +
      "`observe`. Times count from the moment the API server received the create (audit log).",
    table(
      ["created →", "median s", "p95 s", "max s", "min s", "mean s", "n", "p95 / bound"],
      [
        summaryRow("four keys visible in the CR (benchmark's watch)", L.summary.persisted, bound),
        summaryRow("`observed` logged by the capability", L.summary.observed, bound),
      ],
    ),
    `Ratios to the ${bound / 1000} s design bound for created → \`observed\`: median ${L.ratio.median}, p95 ${L.ratio.p95}, max ${L.ratio.max}.`,
    "Where the time goes, step by step (the means add up to the mean of created → `observed`):",
    table(
      ["step", "median ms", "p95 ms", "max ms", "mean ms"],
      [...STEPS, ...ASIDES].map(s => stepRow(s.label, L.summary[s.key])),
    ),
    "![Latency histogram and CDF](latency.svg)",
    ...interpretation(r),
  ];
}

function stepRow(label: string, v: Summary | undefined): string[] {
  return [label, ms1(v?.median), ms1(v?.p95), ms1(v?.max), ms1(v?.mean)];
}

function apiCalls(r: Results): string[] {
  const L = r.latency;
  const counts = Object.entries(L.patchesPerEvent.counts)
    .map(([n, c]) => `${c} event${c === 1 ? "" : "s"} with ${n} PATCH${n === "1" ? "" : "es"}`)
    .join(", ");
  const perEvent = Object.entries(L.callsPerEvent ?? {});
  const w = r.watcher;
  return [
    "## API calls",
    `PATCHes by the watcher (user agent \`kubernetes-fluent-client\`) to \`${storeName()}\`, ` +
      `from each create up to the next create (the last run: one flush interval more), from the audit log: ${counts}. ` +
      "The benchmark's own resets are kubectl PATCHes and are not counted.",
    ...(perEvent.length === 0
      ? []
      : [
          "All the watcher's API calls per event, same windows (one per audit ID):",
          table(
            ["call", "per event: min", "max", "mean"],
            perEvent.map(([call, n]) => [`\`${call}\``, n.min, n.max, n.mean]),
          ),
        ]),
    "Calls the watcher made during start-up (from spawning it until it watches both stores), one per audit ID:",
    table(
      ["verb", "path (field selector)", "calls", "status"],
      w.startupCalls.map(c => [c.verb, `\`${c.path}\``, c.count, c.codes.join(", ")]),
    ),
    `GET/LIST/WATCH: ${w.startupGetListWatch}; all calls: ${w.startupAllCalls}. ` +
      `The watcher took ${w.startWallSeconds} s from spawn to "Controller startup complete" ` +
      "(Pepr waits a random 0–3 s before it reads its store).",
  ];
}

function cost(r: Results): string[] {
  const w = r.watcher;
  const cp = r.controlPlane;
  const events = r.latency.runs.length;
  return [
    "## Cost",
    table(
      ["", "watcher peak RSS (VmHWM)", "watcher RSS", "watcher CPU s (utime+stime)"],
      [
        costRow("after start-up", w.afterStartup),
        costRow(`after the ${events} latency events`, w.afterLatency),
        costRow("end (after the scale and limit phases)", w.end),
      ],
    ),
    `CPU time of the latency phase alone: ${(w.afterLatency.cpuSeconds - w.afterStartup.cpuSeconds).toFixed(2)} s ` +
      `for ${events} events. ` +
      `Control plane (etcd + kube-apiserver + controllers in one process): peak RSS ${mib(cp.peakRssBytes)}, ` +
      `CPU ${cp.cpuSeconds ?? "–"} s over the run; start ${cp.readyLineStartSeconds ?? "–"} s by its ready line ` +
      `(\`startSeconds\`), ${cp.startWallSeconds} s wall time for \`startControlPlane()\` ` +
      `(the build check before it: ${cp.buildCheckSeconds} s). ` +
      "The watcher runs at `LOG_LEVEL=debug` (the harness needs its debug records), and at that level " +
      "Pepr logs the whole CR on every store update: part of its CPU and memory at large stores is that logging.",
  ];
}

function costRow(label: string, p: ProcSample): string[] {
  return [label, mib(p.peakRssBytes), mib(p.rssBytes), p.cpuSeconds.toFixed(2)];
}

function scale(r: Results): string[] {
  return [
    "## Scale",
    `Each size: the store's \`data\` is reset to the placeholder, then filled from outside with ` +
      `${r.prefill.keyBytes}-byte keys and ${r.prefill.valueBytes}-byte values under the capability's prefix ` +
      `(\`${KEY_PREFIX}<key>\`, ${r.prefill.storedKeyBytes} bytes), at most ${r.config.prefillChunk} keys per ` +
      `JSON merge patch; then ${plural(r.config.scaleRuns, "event")} as above. Times are medians over those events.`,
    table(
      [
        "keys",
        "CR size",
        "prefill",
        "created → CR",
        "created → observed",
        "PATCH received → completed ms",
        "PATCH received → bench watch ms",
        "PATCH received → watcher ms",
        "watcher PATCHes per event",
        "watcher RSS / peak",
      ],
      r.scale.map(scaleRow),
    ),
    "![CR size and times against the key count](scale.svg)",
    ...scaleInterpretation(r),
  ];
}

function limit(r: Results): string[] {
  const lim = r.limit;
  if (!lim) return [];
  return [
    "## The limit",
    [
      `The store took at most **${int(lim.maxKeys)} prefill keys** (${bytes(lim.maxObjectBytes)} as sent on the watch); ` +
        `one key more was rejected (bisected in ${lim.steps.length} PATCHes). kubectl's error:`,
      "```text",
      firstLine(lim.prefillError),
      "```",
    ].join("\n"),
    ...limitEvent(lim),
    ...limitInterpretation(r),
    limitRecovery(lim),
  ];
}

/** Seconds from the limit event's create to `t`, one decimal. */
function afterCreate(lim: LimitResult, t: number | undefined): string {
  const created = lim.event.createdAt;
  return created !== undefined && t !== undefined ? ((t - created) / 1000).toFixed(1) : "–";
}

/** What the callback did on the full store, and the watcher's PATCHes, calls and warnings. */
function limitEvent(lim: LimitResult): string[] {
  const ev = lim.event;
  const ended = afterCreate(lim, ev.endedAt);
  const outcome =
    ev.outcome === "failed"
      ? `The callback failed: its final error came ${ended} s after the create, and \`observed\` was not logged.`
      : ev.outcome === "observed"
        ? `The callback still logged \`observed\`, ${ended} s after the create.`
        : `The callback did not end within the benchmark's deadline: ${ev.error}.`;
  const calls = lim.calls.map(c => `${c.count} × ${c.verb} \`${c.path}\` (${c.codes.join(", ")})`);
  return [
    `Then \`observe\` was created on the full store. ${outcome}` +
      ` The watcher's PATCHes to the store from the create until two flush intervals after that (${lim.patches.length}), from the audit log:`,
    table(
      ["s after create", "status", "JSON patch operations sent"],
      lim.patches.map(x => [(x.afterCreateMs / 1000).toFixed(1), x.code, describePatch(x.body)]),
    ),
    `All the watcher's API calls in that window: ${calls.join("; ")}.`,
    "The watcher's warnings (level 40) and errors (level 50) in the same window:",
    table(
      ["s after create", "level", "msg", "record"],
      lim.records.map(e => [
        afterCreate(lim, e.time),
        e.level,
        `\`${e.msg}\``,
        `\`${e.detail.slice(0, 300)}\``,
      ]),
    ),
  ];
}

function limitRecovery(lim: LimitResult): string {
  const rec = lim.recovery;
  return (
    "After resetting the store to the placeholder, `observe` was created once more: " +
    (rec.ok
      ? `the module recovered: \`observed\` after ${s3(rec.ms.observed)} s`
      : `the module did not recover: ${rec.error}`) +
    `; the watcher's PATCH status codes from that create on: ${rec.patchCodesAfter.join(", ") || "none"}.`
  );
}

function method(): string[] {
  return ["## How it is measured", METHOD.join("\n"), ENVIRONMENT];
}

/** How the benchmark measures, one bullet per subject. */
const METHOD = [
  "- **Control plane and watcher**: `startControlPlane()` and `startModule()` from `cluster/` " +
    "(kube-apiserver and etcd in one local process, the built module as a local Node process at `LOG_LEVEL=debug`).",
  "- **Reset**: before each event the capability's four keys are removed by a `kubectl patch --type=merge` " +
    "that sets them to `null` (the placeholder and any prefill stay). Pepr's watch delivers the reset to the " +
    "capability's Storage too; the benchmark waits until the watcher logged `Pepr Store update` for that " +
    "resourceVersion and its receive debounce has passed.",
  "- **Fresh write**: `setItemAndWait` resolves only in a store update that carries the key with the value, " +
    "and only updates after the call count (storage.ts `subscribe`). After the reset, no update carries " +
    "`https://observed` until the watcher's own PATCH lands, so every `observed` follows a real write. Each run " +
    "checks it: the last CR state before the create lacked all four keys, and the CR with them arrived after the " +
    "API server received the watcher's PATCH (`fresh` in results.json).",
  "- **`observe`**: the binding reacts to CREATE only, so the benchmark deletes `observe` before each event and " +
    "waits for the watcher's `Watch event DELETED received` record (logged, then filtered: no store write; the " +
    "PATCH count confirms it).",
  "- **Watch**: the benchmark holds its own WATCH on the PeprStore (HTTPS stream from the API server, one JSON " +
    "event per line, client certificate from the control plane's kubeconfig); \"visible\" is when the event's last " +
    "byte arrived. No polling.",
  "- **Phases**: Pepr flushes on a fixed 4 s `setInterval`. Run i is started at a phase drawn uniformly from the " +
    "i-th of n equal slices of the interval (order shuffled), measured from the last flush the watcher logged, so " +
    "the runs cover the interval evenly like independently arriving events; without it every run would start at " +
    "about the same phase.",
  "- **Times**: the create's and PATCH's times come from the audit log (`requestReceivedTimestamp`, µs; the " +
    "completion time is stamped after the response is written, and watch events can go out before it), the watcher's from " +
    "its pino records (`time`, ms), the watch's from `Date.now()` in the benchmark: one machine, one clock.",
  "- **Statistics**: median; p95 is nearest-rank (the smallest value with at least 95 % of the runs at or below it).",
  "- **Cost**: `/proc/<pid>/status` VmHWM and `/proc/<pid>/stat` utime+stime of the watcher's Node process.",
];

const ENVIRONMENT =
  "Environment overrides: `BENCH_RUNS` (30), `BENCH_SCALE` (`10,100,1000,10000,50000`), `BENCH_SCALE_RUNS` (3), " +
  "`BENCH_PREFILL_CHUNK` (2000), `BENCH_OUT` (`bench/`), and the harness's `WATCHER_PORT_WAIT_MS` to wait for port 3000.";

function scaleRow(s: ScaleStep): string[] {
  if (s.skipped) {
    return [int(s.keys), "–", "–", "–", "–", "–", "–", "–", "–", `not run: ${s.skipped}`];
  }
  if (s.rejected) {
    return [
      int(s.keys),
      "–",
      `rejected at ${int(s.rejected.attemptedKeys)} keys (${int(s.storedKeys)} stored)`,
      "–",
      "–",
      "–",
      "–",
      "–",
      "–",
      `\`${firstLine(s.rejected.error)}\``,
    ];
  }
  const v = (k: BreakdownKey): Summary | undefined => s.summary[k];
  return [
    int(s.storedKeys),
    bytes(s.objectBytes),
    `${plural(s.prefillPatches, "PATCH", "PATCHes")}, ${(s.prefillMs / 1000).toFixed(1)} s`,
    `${s3(v("persisted")?.median)} s`,
    `${s3(v("observed")?.median)} s`,
    ms1(v("patchServer")?.median),
    ms1(v("deliveryBench")?.median),
    ms1(v("deliveryPepr")?.median),
    s.runs.map(r => r.patches ?? "–").join(", "),
    s.watcher ? `${mib(s.watcher.rssBytes)} / ${mib(s.watcher.peakRssBytes)}` : "–",
  ];
}

/** What dominates the latency, computed from the step means (which add up). */
function interpretation(r: Results): string[] {
  const S = r.latency.summary;
  const total = S.observed?.mean;
  const wait = S.waitFlush?.mean;
  const deb = S.debounce?.mean;
  if (total === undefined || wait === undefined || deb === undefined) return [];
  const rest = total - wait - deb;
  const pct = (x: number): string => `${((x / total) * 100).toFixed(0)} %`;
  const flush = r.pepr.flushIntervalMs;
  const dominant = wait >= deb ? "the wait for the flush interval" : "the receive debounce";
  return [
    "**What dominates.** " +
      `Of the mean ${s3(total)} s from create to \`observed\`, ${s3(wait)} s (${pct(wait)}) is the wait for ` +
      `Pepr's ${flush / 1000} s flush interval and ${s3(deb)} s (${pct(deb)}) the ${r.pepr.receiveDebounceMs / 1000} s receive ` +
      `debounce with the capability's check after it; everything else (watch to the callback, the PATCH, the watch back) is ${rest.toFixed(0)} ms (${pct(rest)}). ` +
      `So ${dominant} dominates. The flush wait is the part that varies: it ranged from ` +
      `${s3(S.waitFlush?.min)} s to ${s3(S.waitFlush?.max)} s (uniform over the interval, mean ${flush / 2000} s expected), ` +
      `while the debounce step hardly varies (${s3(S.debounce?.min)} s to ${s3(S.debounce?.max)} s). The four keys are in the CR (seen on the watch) ` +
      `${s3(S.persisted?.median)} s (median) after the create; \`observed\` adds the watch round trip and the debounce.`,
  ];
}

/** A JSON patch body as a list of operations, with the capability's key prefix shortened. */
function describePatch(body: string): string {
  let ops: unknown;
  try {
    ops = JSON.parse(body);
  } catch {
    return `\`${body.slice(0, 200)}\``;
  }
  if (!Array.isArray(ops)) return `\`${body.slice(0, 200)}\``;
  return ops
    .map(o => {
      if (o === null) return "`null`";
      const op = o as { op?: string; path?: string };
      return `\`${op.op} ${(op.path ?? "").replace(`/data/${KEY_PREFIX}`, "/data/…-v2-")}\``;
    })
    .join(", ");
}

/** What the scale steps show, from their numbers. */
function scaleInterpretation(r: Results): string[] {
  const measured = r.scale.filter(s => s.objectBytes !== undefined && s.summary.patchServer);
  if (measured.length < 2) return [];
  const first = measured[0];
  const last = measured[measured.length - 1];
  const perKey =
    ((last.objectBytes ?? 0) - (first.objectBytes ?? 0)) / (last.storedKeys - first.storedKeys);
  const med = (s: ScaleStep, k: BreakdownKey): string => ms1(s.summary[k]?.median);
  const out = [
    `**Reading the scale.** Each prefill key adds about ${perKey.toFixed(0)} bytes to the CR ` +
      `(${r.prefill.storedKeyBytes}-byte key, ${r.prefill.valueBytes}-byte value, JSON quoting). From ${int(first.storedKeys)} to ` +
      `${int(last.storedKeys)} keys the API server's time for the watcher's 5-operation PATCH went from ` +
      `${med(first, "patchServer")} ms to ${med(last, "patchServer")} ms (median), and the CR reached the benchmark's watch ` +
      `${med(first, "deliveryBench")} ms and ${med(last, "deliveryBench")} ms after the PATCH was received: the API server ` +
      "decodes, patches, re-encodes and stores the whole object, and every watcher receives the whole object again on every change. " +
      "Created → `observed` stays dominated by the flush interval (a few events per size, so those medians depend on the phases drawn).",
  ];
  if (r.limit) {
    out.push(
      "The limit is the size of the whole object, not of the request: the watcher's PATCH is a few hundred bytes, but " +
        "kube-apiserver writes the full CR to etcd, and etcd refuses requests over its `--max-request-bytes` " +
        `(default 1.5 MiB = 1,572,864 B). With these key and value sizes that is ${int(r.limit.maxKeys)} keys; ` +
        `the API server's 3 MiB request-body limit does not come into play (the watcher's largest PATCH body: ${maxBody(r)} bytes).`,
    );
  }
  return out;
}

/** What the module did at the limit, from the recorded PATCHes and log records. */
function limitInterpretation(r: Results): string[] {
  const lim = r.limit;
  if (!lim) return [];
  const out: string[] = [];
  const failedThenNull = lim.patches.some(
    (x, i) =>
      x.code >= 500 &&
      lim.patches[i + 1]?.code === 422 &&
      lim.patches[i + 1].body.startsWith("[null"),
  );
  if (failedThenNull) {
    out.push(
      "**What happens.** The PATCH fails with 500 (`etcdserver: request is too large`). Pepr re-queues the " +
        "failed operations as `payload[Number(index)]`, which is `undefined` for its string keys " +
        "(`node_modules/pepr/src/lib/controller/storeCache.ts`), so the next flush sends `null`s, gets 422 and " +
        "clears its queue: the writes are dropped, and nothing tells the capability but its own timeout.",
    );
  }
  const rewrites = lim.records.filter(x => x.msg === "re-writing store keys").length;
  if (rewrites > 0) {
    const gaveUp = lim.records.some(x => x.msg === "store writes not confirmed");
    const failed = lim.patches.filter(x => x.code >= 500).length;
    const nulls = lim.patches.filter(x => x.code === 422 && x.body.startsWith("[null")).length;
    out.push(
      `The capability's \`confirmWrites\` (\`capabilities/confirm-writes.ts\`) re-wrote the missing keys ${plural(rewrites, "time")} ` +
        `(${plural(failed, "PATCH", "PATCHes")} with 500 and ${nulls} with \`null\`s and 422 in all), then gave up` +
        (gaveUp ? " with `store writes not confirmed`." : "."),
    );
  }
  return out;
}

/** The largest JSON body among the watcher's PATCHes at the limit. */
function maxBody(r: Results): number {
  return Math.max(0, ...(r.limit?.patches ?? []).map(x => Buffer.byteLength(x.body)));
}
