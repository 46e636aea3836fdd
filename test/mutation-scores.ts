// `npm run test:mutation:scores`: the mutation score of each folder and file, from the reports
// that `npm run test:mutation` runs left in reports/mutation/ (one per `--mutate` selection).
// A file's mutants are taken from every report that tested its current source, the newest
// result of each mutant winning; reports of an older source of the file are left out. Scores
// are computed by mutation-testing-metrics, the library Stryker's own reporters use. An argument
// names another folder of reports.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

import { calculateMetrics, type Metrics, type MetricsResult } from "mutation-testing-metrics";
import type { FileResult, MutantResult, MutationTestResult } from "mutation-testing-report-schema";

import { repoRoot } from "../cluster/paths";

/** Below this, a folder or file is marked (the project's goal; Stryker's `thresholds.low`). */
export const GOAL_PERCENT = 85;
const REPORTS = path.join("reports", "mutation");

/** Identifies a mutant across runs of the same source: where it is and what it changes. */
function mutantKey(m: MutantResult): string {
  const { start, end } = m.location;
  return `${start.line}:${start.column}-${end.line}:${end.column} ${m.mutatorName} ${m.replacement ?? ""}`;
}

/**
 * Merges reports, oldest first: for each file, the mutants of every report that tested the
 * same source as the newest one, a later result replacing an earlier one of the same mutant.
 *
 * @returns the merged files, and for each file the reports it was taken from
 */
export function mergeReports(reports: readonly { name: string; result: MutationTestResult }[]): {
  files: Record<string, FileResult>;
  sources: Record<string, string[]>;
} {
  const files: Record<string, FileResult> = {};
  const sources: Record<string, string[]> = {};
  for (const { name, result } of reports) {
    for (const [file, fileResult] of Object.entries(result.files)) {
      const merged = files[file];
      if (!merged || merged.source !== fileResult.source) {
        files[file] = { ...fileResult, mutants: [...fileResult.mutants] };
        sources[file] = [name];
        continue;
      }
      const byKey = new Map(merged.mutants.map(m => [mutantKey(m), m]));
      for (const m of fileResult.mutants) byKey.set(mutantKey(m), m);
      merged.mutants = [...byKey.values()];
      sources[file].push(name);
    }
  }
  return { files, sources };
}

/** The reports in `dir`, oldest first (by modification time). */
function readReports(dir: string): { name: string; result: MutationTestResult }[] {
  return readdirSync(dir)
    .filter(f => f.endsWith(".json"))
    .map(f => ({ f, mtime: statSync(path.join(dir, f)).mtimeMs }))
    .sort((a, b) => a.mtime - b.mtime)
    .map(({ f }) => ({
      name: f.replace(/\.json$/, ""),
      result: JSON.parse(readFileSync(path.join(dir, f), "utf8")) as MutationTestResult,
    }));
}

/** One table row: score, then the counts it comes from. */
export function row(name: string, m: Metrics): string {
  const score = Number.isNaN(m.mutationScore) ? "   n/a" : `${m.mutationScore.toFixed(2)} %`;
  const mark = m.mutationScore < GOAL_PERCENT ? `  below ${GOAL_PERCENT} %` : "";
  const counts = [m.killed, m.timeout, m.survived, m.noCoverage, m.compileErrors];
  return `${name.padEnd(44)} ${score.padStart(8)}${counts.map(c => String(c).padStart(9)).join("")}${mark}`;
}

/**
 * The folder rows, each followed by its files' rows, then the total.
 *
 * @param totalName - what the total is of (mutation-testing-metrics drops a folder that all files
 *   share from their names)
 */
export function scoreTable(result: MetricsResult, totalName = "all"): string[] {
  const header = `${"folder / file".padEnd(44)} ${"score".padStart(8)}${["killed", "timeout", "survived", "no cov", "compile"].map(h => h.padStart(9)).join("")}`;
  const lines = [header];
  const visit = (node: MetricsResult, prefix: string): void => {
    for (const child of node.childResults) {
      const name = prefix ? `${prefix}/${child.name}` : child.name;
      lines.push(row(child.file ? `  ${name}` : `${name}/`, child.metrics));
      if (!child.file) visit(child, name);
    }
  };
  visit(result, "");
  lines.push(row(totalName, result.metrics));
  return lines;
}

function main(dir = path.join(repoRoot(), REPORTS)): number {
  const reports = readReports(dir);
  if (reports.length === 0) {
    process.stderr.write(
      `no reports in ${dir}: run npm run test:mutation -- --mutate <file> first\n`,
    );
    return 2;
  }
  const { files, sources } = mergeReports(reports);
  const tops = new Set(Object.keys(files).map(f => f.split("/")[0]));
  const total = tops.size === 1 ? `${[...tops][0]}/ (all)` : "all";
  const table = scoreTable(calculateMetrics(files), total);
  process.stdout.write(`${table.join("\n")}\n\nfrom ${REPORTS}/:\n`);
  for (const file of Object.keys(files).sort()) {
    // a report of another source than the file's now: its score is of that source
    const current = readFileSync(path.join(repoRoot(), file), "utf8") === files[file].source;
    const stale = current ? "" : " (source changed since: run it again)";
    process.stdout.write(`  ${file}: ${sources[file].join(", ")}${stale}\n`);
  }
  return 0;
}

if (require.main === module) process.exit(main(process.argv[2]));
