// test/mutation-scores.ts: how the reports of several `npm run test:mutation` selections are merged
// into one score per folder and file.
import { calculateMetrics } from "mutation-testing-metrics";
import type { FileResult, MutantResult, MutantStatus } from "mutation-testing-report-schema";

import { mergeReports, row, scoreTable } from "../mutation-scores";

/** A mutant on `line` with this status. */
const mutant = (
  id: string,
  line: number,
  status: MutantStatus,
  replacement = "true",
): MutantResult => ({
  id,
  mutatorName: "ConditionalExpression",
  replacement,
  status,
  location: { start: { line, column: 1 }, end: { line, column: 5 } },
});

const file = (source: string, mutants: MutantResult[]): FileResult => ({
  language: "typescript",
  source,
  mutants,
});

const report = (name: string, files: Record<string, FileResult>) => ({
  name,
  result: { schemaVersion: "2", thresholds: { high: 90, low: 85 }, files },
});

describe("merging mutation reports", () => {
  it("lets a later run of the same source decide each mutant it tested, and keeps the others", () => {
    const { files, sources } = mergeReports([
      report("store-read.ts", {
        "store/read.ts": file("v1", [mutant("0", 1, "Survived"), mutant("1", 2, "Killed")]),
      }),
      report("store-read.ts-1-1", { "store/read.ts": file("v1", [mutant("7", 1, "Killed")]) }),
    ]);
    expect(files["store/read.ts"].mutants.map(m => [m.location.start.line, m.status])).toEqual([
      [1, "Killed"],
      [2, "Killed"],
    ]);
    expect(sources).toEqual({ "store/read.ts": ["store-read.ts", "store-read.ts-1-1"] });
  });

  it("tells mutants on the same place apart by what they change", () => {
    const { files } = mergeReports([
      report("a", { "f.ts": file("s", [mutant("0", 1, "Survived", "true")]) }),
      report("b", { "f.ts": file("s", [mutant("0", 1, "Killed", "false")]) }),
    ]);
    expect(files["f.ts"].mutants.map(m => [m.replacement, m.status])).toEqual([
      ["true", "Survived"],
      ["false", "Killed"],
    ]);
  });

  it("drops the results of an older source of a file", () => {
    const { files, sources } = mergeReports([
      report("old", {
        "f.ts": file("v1", [mutant("0", 1, "Survived"), mutant("1", 9, "Survived")]),
      }),
      report("new", { "f.ts": file("v2", [mutant("0", 1, "Killed")]) }),
    ]);
    expect(files["f.ts"].mutants).toEqual([mutant("0", 1, "Killed")]);
    expect(sources["f.ts"]).toEqual(["new"]);
  });
});

describe("the score table", () => {
  it("scores detected / (detected + survived + no coverage), marks a score below 85 %", () => {
    const metrics = calculateMetrics({
      "store/a.ts": file("a", [
        mutant("0", 1, "Killed"),
        mutant("1", 2, "Timeout"),
        mutant("2", 3, "Survived"),
        mutant("3", 4, "NoCoverage"),
        mutant("4", 5, "CompileError"),
      ]),
      "capabilities/b.ts": file("b", [mutant("0", 1, "Killed")]),
    });
    expect(scoreTable(metrics).map(l => l.replace(/ +/g, " "))).toEqual([
      "folder / file score killed timeout survived no cov compile",
      "capabilities/ 100.00 % 1 0 0 0 0",
      " capabilities/b.ts 100.00 % 1 0 0 0 0",
      "store/ 50.00 % 1 1 1 1 1 below 85 %",
      " store/a.ts 50.00 % 1 1 1 1 1 below 85 %",
      "all 60.00 % 2 1 1 1 1 below 85 %",
    ]);
  });

  it("shows n/a for a file without a mutant that counts", () => {
    const only = calculateMetrics({ "e.ts": file("e", [mutant("0", 1, "CompileError")]) });
    expect(row("e.ts", only.metrics).replace(/ +/g, " ")).toBe("e.ts n/a 0 0 0 0 1");
  });
});
