// The capability's deadlines are computed from Pepr's timers, written out in
// capabilities/deadlines.ts because Pepr does not export them: check them against Pepr's source.
import { readFileSync } from "node:fs";
import path from "node:path";

import {
  CHECK_WORST_CASE_MS,
  CONFIRM_WORST_CASE_MS,
  PEPR_FLUSH_INTERVAL_MS,
  PEPR_MAX_WAIT_MS,
  PEPR_RECEIVE_DEBOUNCE_MS,
  readRetryPauses,
  rewriteBackoffs,
} from "../../capabilities/deadlines";

const peprSource = (file: string): string =>
  readFileSync(path.join(__dirname, "../../node_modules/pepr/src/lib", file), "utf8");

/** The number assigned to `const <name> = <number>;` in a Pepr source file. */
const constantIn = (file: string, name: string): number => {
  const match = new RegExp(`const ${name} = ([\\d_]+);`).exec(peprSource(file));
  if (!match) throw new Error(`pepr src/lib/${file}: no "const ${name} = <number>;"`);
  return Number(match[1].replace(/_/g, ""));
};

describe("deadlines", () => {
  it("uses Pepr 1.1.4's flush interval, receive debounce and setItemAndWait limit", () => {
    expect(PEPR_FLUSH_INTERVAL_MS).toBe(constantIn("controller/store.ts", "debounceBackoffSend"));
    expect(PEPR_RECEIVE_DEBOUNCE_MS).toBe(
      constantIn("controller/store.ts", "debounceBackoffReceive"),
    );
    expect(PEPR_MAX_WAIT_MS).toBe(constantIn("core/storage.ts", "MAX_WAIT_TIME"));
  });

  it("doubles the pauses between reads and before re-writes", () => {
    expect(readRetryPauses()).toEqual([500, 1_000]);
    expect(readRetryPauses(4, 100)).toEqual([100, 200, 400]);
    expect(rewriteBackoffs()).toEqual([1_000, 2_000, 4_000]);
    expect(rewriteBackoffs(2, 10)).toEqual([10]);
  });

  it("bounds one check at 13.5 s and the capability at 121 s", () => {
    expect(CHECK_WORST_CASE_MS).toBe(13_500);
    expect(CONFIRM_WORST_CASE_MS).toBe(121_000);
  });
});
