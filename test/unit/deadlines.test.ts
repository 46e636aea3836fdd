// The capability's deadlines, computed from Pepr's timers (store/contract.ts, itself checked
// against Pepr's source by contract.test.ts).
import {
  CHECK_WORST_CASE_MS,
  CONFIRM_WORST_CASE_MS,
  OBSERVED_DEADLINE_MS,
  readRetryPauses,
  rewriteBackoffs,
} from "../../capabilities/deadlines";

describe("deadlines", () => {
  it("doubles the pauses between reads and before re-writes", () => {
    expect(readRetryPauses()).toEqual([500, 1_000]);
    expect(readRetryPauses(4, 100)).toEqual([100, 200, 400]);
    expect(rewriteBackoffs()).toEqual([1_000, 2_000, 4_000]);
    expect(rewriteBackoffs(2, 10)).toEqual([10]);
  });

  it("bounds one check at 13.5 s and the capability at 121 s", () => {
    expect(CHECK_WORST_CASE_MS).toBe(13_500);
    expect(CONFIRM_WORST_CASE_MS).toBe(121_000);
    expect(OBSERVED_DEADLINE_MS).toBe(131_000);
  });
});
