// What every benchmark mode prints and reads: progress lines timed from the start of the run, and
// its settings from the environment.
import { seconds } from "../cluster";

const BENCH_STARTED = Date.now();

/** Seconds since the benchmark started, to 0.1 s. */
export function wallSeconds(): number {
  return Math.round((Date.now() - BENCH_STARTED) / 100) / 10;
}

/** One progress line on stderr: `[  12.3s] phase: msg`. */
export function progress(phase: string, msg: string): void {
  process.stderr.write(`[${seconds(BENCH_STARTED).padStart(6)}s] ${phase}: ${msg}\n`);
}

/** A positive integer setting from the environment, or `fallback` when unset. */
export function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${raw}: expected a positive integer`);
  return n;
}
