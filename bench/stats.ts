// Summary statistics for the benchmark's samples.

/** Median, nearest-rank p95, min, max and mean of a sample, in its unit. */
export interface Summary {
  n: number;
  min: number;
  median: number;
  p95: number;
  max: number;
  mean: number;
}

/**
 * Nearest-rank percentile: the smallest sample with at least `p` % of the samples at or below it
 * (for 30 samples, p95 is the 29th smallest).
 *
 * @throws Error on an empty sample
 */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) throw new Error("percentile of an empty sample");
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

/** Median: the middle value, or the mean of the two middle values. */
export function median(values: number[]): number {
  if (values.length === 0) throw new Error("median of an empty sample");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Summarises a non-empty sample; `undefined` for an empty one. */
export function summarize(values: number[]): Summary | undefined {
  if (values.length === 0) return undefined;
  return {
    n: values.length,
    min: Math.min(...values),
    median: median(values),
    p95: percentile(values, 95),
    max: Math.max(...values),
    mean: values.reduce((a, b) => a + b, 0) / values.length,
  };
}

/** Rounds to `digits` decimals (for results.json: ms with µs precision is noise). */
export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/**
 * Phases (ms after a flush tick) for `n` events: one uniformly random phase in each of `n` equal
 * slices of the flush interval, in random order. Events then sample the interval evenly, as
 * events arriving independently of Pepr's timer would; without it every run would start at the
 * same phase (each run's steps take about the same time after the previous run's flush).
 */
export function stratifiedPhases(n: number, intervalMs: number): number[] {
  const phases = Array.from({ length: n }, (_, i) => ((i + Math.random()) / n) * intervalMs);
  for (let i = phases.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [phases[i], phases[j]] = [phases[j], phases[i]];
  }
  return phases;
}
