// Lose nothing: faults that hit before Pepr's first flush of the keys, on the real control
// plane: kube-apiserver stopped, and the watcher killed. Each test asserts the exact CR data at
// the end. The faults that hit later are in faults.test.ts.

import { createConfigMap, getStore, startModule, TimeoutError } from "../../cluster";
import { FLUSH_INTERVAL_MS } from "../../store/contract";
import {
  OBSERVE_KEYS,
  EXPECTED_DATA,
  MODULE_NAMESPACE,
  PLACEHOLDER,
  Scenario,
  observedRecords,
  patchesSince,
  recordsWithMsg,
  report,
  startSyncedScenario,
  stopAfterEach,
  waitForObserved,
  waitForWatchEvent,
} from "./scenario";

/** What Pepr logs when a flush PATCH fails (storeCache.ts sendUpdatesAndFlushCache). */
const FLUSH_FAILED = "Pepr store update failure";
/**
 * How long the outage waits for a flush to fail on it: one flush interval and a margin. No
 * failure in that time means Pepr had nothing left to send (its flush won the race), which
 * faultBeforeFlush then sees in the audit log.
 */
const OUTAGE_MAX_MS = FLUSH_INTERVAL_MS + 3_000;
/** Scenarios a fault may need before it hits ahead of Pepr's flush (see faultBeforeFlush). */
const FAULT_ATTEMPTS = 3;

describe("faults before the flush", () => {
  const started = stopAfterEach();

  /**
   * Starts a scenario, creates observe, waits for the watcher to see it, then injects `fault`.
   * The fault races Pepr's 4 s flush timer, which a test can neither see nor move: when the
   * audit log shows the keys' PATCH landed before the fault took hold, the fault tested nothing,
   * so the scenario starts over with a fresh watcher on a clean control plane (at most
   * {@link FAULT_ATTEMPTS} times).
   *
   * @param fault - injects the fault; resolves with the time (ms) up to which a PATCH of the
   *   keys means the flush won
   * @param ownControlPlane - the fault stops kube-apiserver: not on the shared control plane
   * @returns the scenario the fault hit and when observe was created in it
   */
  const faultBeforeFlush = async (
    fault: (sc: Scenario) => Promise<number>,
    ownControlPlane = false,
  ): Promise<{ sc: Scenario; createdAt: number }> => {
    for (let attempt = 1; ; attempt++) {
      const sc = (started.scenario = await startSyncedScenario(ownControlPlane));
      const createdAt = Date.now();
      await createConfigMap(sc.cp, MODULE_NAMESPACE, "observe");
      await waitForWatchEvent(sc.mod, "ADDED", MODULE_NAMESPACE, "observe");
      const until = await fault(sc);
      const early = patchesSince(sc.cp, createdAt).filter(
        p =>
          Date.parse(p.stageTimestamp) < until && JSON.stringify(p.requestObject).includes("v2-a"),
      );
      if (early.length === 0) return { sc, createdAt };
      if (attempt === FAULT_ATTEMPTS) {
        throw new Error(`Pepr's flush landed before the fault in all ${attempt} attempts`);
      }
      process.stderr.write(
        `faults: Pepr's flush landed before the fault (attempt ${attempt}); starting over\n`,
      );
      await sc.stop();
      started.scenario = undefined;
    }
  };

  it("kube-apiserver stopped right after observe is created, back once Pepr's flush failed on it: all four keys land", async () => {
    let restartMs = 0;
    const { sc, createdAt } = await faultBeforeFlush(async target => {
      const stoppedAt = Date.now();
      await target.cp.stopAPIServer();
      // The outage lasts until Pepr's flush of the keys has failed on it (its next tick).
      await target.mod
        .waitForLog(
          `watcher "${FLUSH_FAILED}" during the outage`,
          r => r.msg === FLUSH_FAILED && r.time >= stoppedAt,
          OUTAGE_MAX_MS,
        )
        .catch((err: unknown) => {
          if (!(err instanceof TimeoutError)) throw err;
        });
      const restartAt = Date.now();
      await target.cp.startAPIServer();
      restartMs = Date.now() - restartAt;
      return restartAt;
    }, true);
    report("API server outage: kube-apiserver restart", restartMs);

    await waitForObserved(sc.mod, 1);
    report(
      "API server outage: observe created -> observed",
      observedRecords(sc.mod)[0].time - createdAt,
    );
    expect((await getStore(sc.cp))?.data).toEqual(EXPECTED_DATA);
    // Pepr's flusher lost the four writes (its retry re-queues undefined, then a 422 drops them);
    // the capability re-wrote all of them once.
    expect(recordsWithMsg(sc.mod, FLUSH_FAILED).length).toBeGreaterThan(0);
    expect(recordsWithMsg(sc.mod, "re-writing store keys")).toEqual([
      expect.objectContaining({ level: 40, missing: OBSERVE_KEYS, attempt: 1 }),
    ]);
    expect(recordsWithMsg(sc.mod, "store writes not confirmed")).toEqual([]);
  });

  it("watcher SIGKILLed before its flush and restarted: the store is intact, no extra keys", async () => {
    const { sc } = await faultBeforeFlush(async target => {
      target.mod.kill("SIGKILL");
      expect(await target.mod.exited).toBe("SIGKILL");
      return Infinity; // any PATCH of the keys before the restart means the flush won
    });
    expect((await getStore(sc.cp))?.data).toEqual(PLACEHOLDER);

    // The restarted watcher lists ConfigMaps, sees observe as added, and runs the capability.
    const restarted = (started.restarted = await startModule(sc.cp));
    await waitForObserved(restarted, 1);
    expect((await getStore(sc.cp))?.data).toEqual(EXPECTED_DATA);
  });
});
