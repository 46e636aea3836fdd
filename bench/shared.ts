// What every benchmark mode shares: progress on stderr, settings and output files, summary
// statistics, and the memory and CPU time of a process from /proc.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

import { repoRoot, seconds } from "../cluster";

const BENCH_STARTED = Date.now();

/** Seconds since the benchmark started. */
export function wallSeconds(): number {
  return round((Date.now() - BENCH_STARTED) / 1000);
}

/** One progress line on stderr: `[  12.3s] phase: msg`. */
export function progress(phase: string, msg: string): void {
  process.stderr.write(`[${seconds(BENCH_STARTED).padStart(6)}s] ${phase}: ${msg}\n`);
}

/** A positive integer setting from the environment, or `fallback` when unset. */
export function intEnv(name: string, fallback: number): number {
  const raw = process.env[name] || String(fallback);
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${raw}: expected a positive integer`);
  return n;
}

/** Where the results, the report and the charts go: $BENCH_OUT, by default bench/. */
export function outDir(): string {
  return path.resolve(process.env.BENCH_OUT || path.join(repoRoot(), "bench"));
}

/**
 * Writes `text` to `name` in {@link outDir}, formatted by Prettier as the committed copy in
 * bench/ is, so that a new run diffs cleanly (Prettier leaves the SVGs alone).
 */
export async function writeOutput(name: string, text: string): Promise<void> {
  const prettier = await import("prettier"); // an ES module: not loaded where nothing is written
  const committed = path.join(repoRoot(), "bench", name);
  const options = await prettier.resolveConfig(committed);
  const parser = (await prettier.getFileInfo(committed)).inferredParser;
  mkdirSync(outDir(), { recursive: true });
  const formatted = parser ? await prettier.format(text, { ...options, parser }) : text;
  writeFileSync(path.join(outDir(), name), formatted);
}

/** Rounds to `digits` decimals (ms with µs precision is noise in results.json). */
export function round(value: number, digits = 1): number {
  return Math.round(value * 10 ** digits) / 10 ** digits;
}

/** Median, nearest-rank p95, min, max and mean of a sample (of `n` values), in its unit. */
export type Summary = Record<"n" | "min" | "median" | "p95" | "max" | "mean", number>;

/**
 * Summarises a sample, each figure rounded to `digits` decimals; `undefined` when it is empty.
 * p95 is nearest-rank: the smallest value with at least 95 % of the sample at or below it.
 */
export function summarize(values: number[], digits = 1): Summary | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  const p95 = s[Math.ceil(0.95 * s.length) - 1];
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  const [min, max] = [s[0], s[s.length - 1]].map(v => round(v, digits));
  const r = (v: number) => round(v, digits);
  return { n: s.length, min, median: r(median), p95: r(p95), max, mean: r(mean) };
}

/** Memory and CPU time of a process at `at`: VmHWM (peak RSS), VmRSS and utime + stime. */
export type ProcSample = Record<"at" | "peakRssBytes" | "rssBytes" | "cpuSeconds", number>;

const CLOCK_TICKS = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout) || 100;

/** Samples a running process from /proc; throws when it is gone. */
export function sampleProcess(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kB = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
  // The command name (field 2) may hold spaces: count from the ")" that ends it; the state is
  // field 3, utime and stime are fields 14 and 15, in clock ticks.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    at: Date.now(),
    peakRssBytes: kB("VmHWM") * 1024,
    rssBytes: kB("VmRSS") * 1024,
    cpuSeconds: round((Number(fields[14 - 3]) + Number(fields[15 - 3])) / CLOCK_TICKS, 2),
  };
}

/** A Markdown table from its header and rows, each written as cells joined by " | ". */
export function table(head: string, rows: string[]): string {
  const columns = head.split(" | ").length;
  return [head, Array(columns).fill("---").join(" | "), ...rows].map(r => `| ${r} |`).join("\n");
}
