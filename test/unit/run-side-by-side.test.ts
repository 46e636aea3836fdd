// test/e2e/run-side-by-side.ts: how `npm run test:e2e` splits the tier's files among its Jest
// processes, and the command line each process runs.
import { readdirSync } from "node:fs";
import path from "node:path";

import {
  DEFAULT_PROCESSES,
  expectedSeconds,
  jestCommand,
  MEASURED_SECONDS,
  processCount,
  shellQuote,
  splitByDuration,
} from "../e2e/run-side-by-side";

const e2eFiles = readdirSync(path.join(__dirname, "..", "e2e"))
  .filter(f => f.endsWith(".test.ts"))
  .map(f => `/repo/test/e2e/${f}`);

describe("splitting the e2e files among processes", () => {
  it("has a measured time for every e2e test file, and none for a file that is gone", () => {
    expect(e2eFiles.map(f => path.basename(f)).sort()).toEqual(
      Object.keys(MEASURED_SECONDS).sort(),
    );
  });

  it("gives each file to the group that ends soonest, longest first", () => {
    expect(splitByDuration(e2eFiles, 4).map(g => g.map(f => path.basename(f)))).toEqual([
      ["start.test.ts"],
      ["faults.test.ts", "ignored.test.ts"],
      ["faults-before-flush.test.ts", "store.test.ts", "manifest.test.ts"],
      ["controlplane.test.ts", "cli.test.ts", "least-privilege.test.ts"],
    ]);
    expect(splitByDuration(e2eFiles, 3).map(g => g.map(f => path.basename(f)))).toEqual([
      ["start.test.ts", "store.test.ts"],
      ["faults.test.ts", "cli.test.ts", "manifest.test.ts"],
      [
        "faults-before-flush.test.ts",
        "controlplane.test.ts",
        "ignored.test.ts",
        "least-privilege.test.ts",
      ],
    ]);
  });

  it("keeps every file once, longest first, in a single group", () => {
    const [only, ...rest] = splitByDuration(e2eFiles, 1);
    expect(rest).toEqual([]);
    expect(only.map(f => path.basename(f))).toEqual([
      "start.test.ts",
      "faults.test.ts",
      "faults-before-flush.test.ts",
      "controlplane.test.ts",
      "cli.test.ts",
      "store.test.ts",
      "ignored.test.ts",
      "manifest.test.ts",
      "least-privilege.test.ts",
    ]);
  });

  it("makes no more groups than files, and orders files of equal time by name", () => {
    expect(splitByDuration(["/x/b.test.ts", "/x/a.test.ts"], 3)).toEqual([
      ["/x/a.test.ts"],
      ["/x/b.test.ts"],
    ]);
    expect(splitByDuration([], 3)).toEqual([]);
  });

  it("expects 30 s of a file not measured yet", () => {
    expect(expectedSeconds("/x/new.test.ts")).toBe(30);
    expect(expectedSeconds("/elsewhere/start.test.ts")).toBe(80);
  });
});

describe("HPSR_E2E_PROCESSES", () => {
  it("defaults to 4 when unset or empty", () => {
    expect(DEFAULT_PROCESSES).toBe(4);
    expect(processCount(undefined)).toBe(4);
    expect(processCount("")).toBe(4);
  });

  it("takes a positive integer", () => {
    expect(processCount("1")).toBe(1);
    expect(processCount("12")).toBe(12);
  });

  it.each(["0", "-2", "1.5", "two", " 2", "02"])("refuses %j by name", value => {
    expect(() => processCount(value)).toThrow(
      `HPSR_E2E_PROCESSES must be a positive integer, not "${value}"`,
    );
  });
});

describe("the command line of a process", () => {
  it("quotes for sh only the words that need it", () => {
    expect(shellQuote("/repo/test/e2e/a.test.ts")).toBe("/repo/test/e2e/a.test.ts");
    expect(shellQuote("--testNamePattern=a b")).toBe("'--testNamePattern=a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote("")).toBe("''");
  });

  it("runs Jest in band on its files, in a new network namespace with lo up", () => {
    const jest = require.resolve("jest/bin/jest");
    const plain = `${process.execPath} ${jest} --config jest.e2e.config.cjs --runInBand --verbose --runTestsByPath /r/a.test.ts /r/b.test.ts`;
    expect(jestCommand(["/r/a.test.ts", "/r/b.test.ts"], ["--verbose"], false)).toBe(plain);
    expect(jestCommand(["/r/a.test.ts", "/r/b.test.ts"], ["--verbose"], true)).toBe(
      `unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh ${plain}`,
    );
  });
});
