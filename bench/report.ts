// REPORT.md from results.json: every figure comes from `Results`; how they are measured is told
// once, in README.md.
import { KEY_PREFIX, type BreakdownKey } from "./event";
import type { Results, ScaleStep } from "./measure";
import { table, type ProcSample, type Summary } from "./shared";

const s3 = (ms?: number) => (ms === undefined ? "–" : (ms / 1000).toFixed(3));
const ms1 = (ms?: number) => (ms === undefined ? "–" : ms.toFixed(1));
const mib = (b?: number) => (b === undefined ? "–" : `${(b / 2 ** 20).toFixed(1)} MiB`);
const int = (n: number) => n.toLocaleString("en-US");
const bytes = (b?: number) =>
  b === undefined ? "–" : `${int(b)} B (${(b / 2 ** 20).toFixed(2)} MiB)`;

/** The steps of created → `observed` in order (their means add up), then two beside them. */
const STEPS: [BreakdownKey, string][] = [
  ["toCallback", "create received → watcher receives ADDED (callback runs)"],
  ["waitFlush", "ADDED → Pepr's flush interval fires (writes wait in the cache)"],
  ["flushToPatch", "flush fires → API server receives the PATCH"],
  ["deliveryPepr", "PATCH received → watcher receives the CR (its watch)"],
  ["debounce", 'watcher receives the CR → "observed" (receive debounce, then the check)'],
  ["patchServer", "(the PATCH itself, received → completed at the API server)"],
];

export function renderReport(r: Results): string {
  return `${[headline, latency, calls, scale, limit].map(section => section(r)).join("\n\n")}\n`;
}

function headline(r: Results): string {
  const { latency: L, watcher: w, pepr: p, machine: m, config: c, controlPlane: cp } = r;
  const { observed: obs, persisted: per } = L.summary;
  const [ppe, s] = [L.patchesPerEvent, r.summary];
  const perEvent = Object.entries(L.callsPerEvent).map(([k, n]) => `${n.mean} ${k.split(" ")[0]}`);
  const dirty = r.module.dirty.length ? `uncommitted: ${r.module.dirty.join("; ")}` : "clean";
  const cost = (at: string, x: ProcSample) =>
    `${at} ${mib(x.peakRssBytes)} / ${mib(x.rssBytes)} / ${x.cpuSeconds.toFixed(2)} s`;
  return `# Benchmark: Pepr Store persistence on the local control plane

Written by \`${r.command}\` (\`bench/run.ts\`) on ${r.date}. Every figure comes from that one run on the machine below; the raw numbers are in [\`results.json\`](results.json), how they are measured in [README.md](README.md#how-it-is-measured).

| figure | value |
| --- | --- |
| ConfigMap \`observe\` created → \`observed\` logged, median / p95 / max | ${s3(obs.median)} s / ${s3(obs.p95)} s / ${s3(obs.max)} s |
| p95 / design bound (${p.flushIntervalMs / 1000} s flush + ${p.receiveDebounceMs / 1000} s debounce = ${r.designBoundMs / 1000} s) | ${L.ratio.p95} |
| created → the four keys in the CR, median / p95 / max | ${s3(per?.median)} s / ${s3(per?.p95)} s / ${s3(per?.max)} s |
| PATCHes to the PeprStore per event | ${ppe.mean} (min ${ppe.min}, max ${ppe.max}, ${L.runs.length} events) |
| all API calls of the watcher per event, mean | ${perEvent.join(" + ")} |
| largest store that persists | ${int(r.limit.maxKeys)} prefill keys, ${bytes(r.limit.maxObjectBytes)} |

The line the benchmark prints last (\`median_s p95_s ratio_to_bound patches_per_event\`): \`${s.median_s} ${s.p95_s} ${s.ratio_to_bound} ${s.patches_per_event}\`

## Machine, run and cost

| | |
| --- | --- |
| machine | ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM, ${m.kernel}; 1-minute load ${r.load.start} at the start, ${r.load.end} at the end |
| software | Node ${m.node}; Pepr ${p.version}; control plane ${m.go}, kube-apiserver ${m.kubernetes}, etcd ${m.etcd} |
| module | commit ${r.module.commit}, sources ${dirty} |
| settings | ${c.runs} latency runs; prefill sizes ${c.scale.join(", ")}; events per size: ${c.scaleRuns}; ${c.prefillChunk} keys per prefill PATCH; ${r.wallSeconds} s in all |
| control plane (one process) | ${cp.startWallSeconds} s to start; peak RSS ${mib(cp.peakRssBytes)}, CPU ${cp.cpuSeconds} s |
| watcher (\`LOG_LEVEL=debug\`): peak RSS / RSS / CPU s | ${cost("after start-up", w.afterStartup)}; ${cost(`after the ${L.runs.length} latency events`, w.afterLatency)}; ${cost("at the end", w.end)} |`;
}

function latency(r: Results): string {
  const { runs, failures, notFresh, summary: S, ratio } = r.latency;
  const row = (label: string, x?: Summary) =>
    `${label} | ${[x?.median, x?.p95, x?.max, x?.min, x?.mean].map(s3).join(" | ")} | ${x?.n ?? 0} | ${x ? (x.p95 / r.designBoundMs).toFixed(3) : "–"}`;
  const step = ([k, label]: [BreakdownKey, string]) =>
    `${label} | ${[S[k]?.median, S[k]?.p95, S[k]?.max, S[k]?.mean].map(ms1).join(" | ")}`;
  const [total, wait, deb] = [S.observed.mean, S.waitFlush?.mean ?? NaN, S.debounce?.mean ?? NaN];
  const pct = (x: number) => `${((x / total) * 100).toFixed(0)} %`;
  return `## Event to persisted

${runs.length} events (${failures} failed, ${notFresh} not a fresh write), timed from the moment the API server received the create of \`observe\` (audit log).

${table("created → | median s | p95 s | max s | min s | mean s | n | p95 / bound", [
  row("the four keys in the CR (the watcher's PATCH completed)", S.persisted),
  row("`observed` logged by the capability", S.observed),
])}

Created → \`observed\` against the ${r.designBoundMs / 1000} s design bound: median ${ratio.median}, p95 ${ratio.p95}, max ${ratio.max}. Where the time goes:

${table("step | median ms | p95 ms | max ms | mean ms", STEPS.map(step))}

![Latency histogram and CDF](latency.svg)

Of the mean ${s3(total)} s, the wait for Pepr's ${r.pepr.flushIntervalMs / 1000} s flush interval is ${s3(wait)} s (${pct(wait)}; from ${s3(S.waitFlush?.min)} s to ${s3(S.waitFlush?.max)} s), the receive debounce and the capability's check ${s3(deb)} s (${pct(deb)}), everything else (watch, PATCH, watch back) ${(total - wait - deb).toFixed(0)} ms (${pct(total - wait - deb)}).`;
}

function calls(r: Results): string {
  const { runs, patchesPerEvent, callsPerEvent } = r.latency;
  const counts = Object.entries(patchesPerEvent.counts).map(
    ([n, c]) => `${n} in ${c} of ${runs.length} events`,
  );
  const perEvent = Object.entries(callsPerEvent).map(
    ([call, n]) => `\`${call}\` | ${n.min} | ${n.max} | ${n.mean}`,
  );
  return `## API calls

The watcher's PATCHes (user agent \`kubernetes-fluent-client\`) to the store per event, from its create to the next one's, from the audit log: ${counts.join(", ")}. All its calls per event, same windows:

${table("call | min | max | mean", perEvent)}`;
}

function scaleRow(s: ScaleStep): string {
  if (s.skipped) return `${int(s.keys)} | not run: ${s.skipped}`;
  if (s.rejected) {
    const error = s.rejected.error.split("\n")[0];
    return `${int(s.keys)} | PATCH to ${int(s.rejected.attemptedKeys)} keys rejected: \`${error}\``;
  }
  const m = (k: BreakdownKey) => s.summary?.[k]?.median;
  const rss = s.watcher ? `${mib(s.watcher.rssBytes)} / ${mib(s.watcher.peakRssBytes)}` : "–";
  const prefill = `${s.prefillPatches}, ${(s.prefillMs / 1000).toFixed(1)} s`;
  const patches = s.runs.map(x => x.patches ?? "–").join(", ");
  const times = `${s3(m("persisted"))} | ${s3(m("observed"))} | ${ms1(m("patchServer"))}`;
  return `${int(s.storedKeys)} | ${bytes(s.objectBytes)} | ${prefill} | ${times} | ${ms1(m("deliveryPepr"))} | ${patches} | ${rss}`;
}

function scale(r: Results): string {
  // From the smallest store measured to the full one.
  const a = r.scale.find(s => s.objectBytes !== undefined) ?? { storedKeys: 0, objectBytes: 0 };
  const { maxKeys, maxObjectBytes } = r.limit;
  const perKey = ((maxObjectBytes ?? 0) - (a.objectBytes ?? 0)) / (maxKeys - a.storedKeys);
  return `## Scale

Each size: the store's \`data\` reset to the placeholder and filled from outside with ${r.prefill.keyBytes}-byte keys (\`${KEY_PREFIX}<key>\`) and ${r.prefill.valueBytes}-byte values, at most ${r.config.prefillChunk} keys per merge patch, then the events as above (${r.config.scaleRuns} per size); times are their medians.

${table("keys | CR size | prefill PATCHes, time | created → CR s | created → observed s | PATCH at the API server ms | PATCH → watcher ms | watcher PATCHes per event | watcher RSS / peak", r.scale.map(scaleRow))}

![CR size and times against the key count](scale.svg)

Each prefill key adds about ${perKey.toFixed(0)} bytes to the CR. The API server decodes, patches, re-encodes and stores the whole object on every PATCH, and every watcher receives the whole object on every change.`;
}

function limit(r: Results): string {
  const { maxKeys, maxObjectBytes, steps, prefillError, event, patches, records } = r.limit;
  const observed = event.ms.observed;
  const outcome = observed ? `\`observed\` after ${s3(observed)} s` : `no \`observed\``;
  const messages = new Map<string, number>();
  for (const { level, msg } of records) {
    messages.set(`${level} \`${msg}\``, (messages.get(`${level} \`${msg}\``) ?? 0) + 1);
  }
  const codes = patches.map(p => `${p.code} at ${(p.afterCreateMs / 1000).toFixed(1)} s`);
  const dropped = patches.some((p, i) => p.code >= 500 && patches[i + 1]?.body.startsWith("[null"));
  return `## The limit

The store took at most **${int(maxKeys)} prefill keys** (${bytes(maxObjectBytes)}); one key more was rejected (PATCHes tried in the search: ${steps.length}): \`${prefillError.split("\n")[0]}\`.

Then \`observe\` was created on the full store: ${outcome}. The watcher's PATCHes until two flush intervals later (status, seconds after the create): ${codes.join(", ")}. Its warnings (40) and errors (50), by message: ${[...messages].map(([msg, n]) => `${n} × ${msg}`).join(", ") || "none"}.${dropped ? DROPPED_WRITES : ""}`;
}

/** Shown when a failed PATCH (500) was followed by one of `null` operations. */
const DROPPED_WRITES = `

etcd refuses the whole object (over its \`--max-request-bytes\`, 1.5 MiB by default), not the few-hundred-byte PATCH, so the watcher's PATCH fails with 500. Pepr re-queues the failed operations as \`payload[Number(index)]\`, \`undefined\` for its string keys (\`node_modules/pepr/src/lib/controller/storeCache.ts\`), so the next flush sends \`null\`s, gets 422 and clears its queue: the writes are dropped, and only the capability's own check notices.`;
