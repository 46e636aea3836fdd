// Lose nothing: the faults Pepr 1.1.4's store flusher does not survive on its own, on the real
// control plane. Each test asserts the exact CR data at the end.

import {
  createConfigMap,
  ensureNamespace,
  getStore,
  kubectl,
  kubectlRun,
  LogRecord,
  ModuleProcess,
  startModule,
  TimeoutError,
  waitFor,
  waitForStore,
  type AuditEvent,
} from "../../cluster";
import { FLUSH_INTERVAL_MS, STORE_NAMESPACE, storeName } from "../../store/contract";
import {
  EXPECTED_DATA,
  MODULE_NAMESPACE,
  OBSERVED_TIMEOUT_MS,
  Scenario,
  observedRecords,
  patchesSince,
  report,
  startScenario,
  nextPhase,
  waitForObserved,
  waitForWatchEvent,
  waitUntil,
  PLACEHOLDER,
} from "./scenario";

/** What Pepr logs when a flush PATCH fails (storeCache.ts sendUpdatesAndFlushCache). */
const FLUSH_FAILED = "Pepr store update failure";
/**
 * How long the outage waits for a flush to fail on it: one flush interval and a margin. No
 * failure in that time means Pepr had nothing left to send (its flush won the race), which
 * faultBeforeFlush then sees in the audit log.
 */
const OUTAGE_MAX_MS = FLUSH_INTERVAL_MS + 3_000;
const ALL_FOUR = ["a", "b", "c", "https://observed"];
/** Where the concurrent-writer test creates observe: this long after a flush tick. */
const AIM_AFTER_TICK_MS = 200;
/** Scenarios a fault may need before it hits ahead of Pepr's flush (see faultBeforeFlush). */
const FAULT_ATTEMPTS = 3;

/** kubectl arguments for a JSON patch of the module's PeprStore. */
const storePatchArgs = (ops: object[]): string[] => [
  "patch",
  "peprstore",
  storeName(),
  "-n",
  STORE_NAMESPACE,
  "--type=json",
  "-p",
  JSON.stringify(ops),
];

const byMsg = (mod: ModuleProcess, msg: string): LogRecord[] => mod.logs.filter(r => r.msg === msg);
const waitObserved = (mod: ModuleProcess, n = 1): Promise<true> =>
  waitForObserved(mod, n, OBSERVED_TIMEOUT_MS);

describe("faults", () => {
  let s: Scenario | undefined;
  let restarted: ModuleProcess | undefined;

  /**
   * A watcher on the cleaned shared control plane (or on a control plane of its own, for a test
   * that stops kube-apiserver), with its informers synced and the namespace there.
   */
  const readyScenario = async (ownControlPlane = false): Promise<Scenario> => {
    const sc = (s = await startScenario({ ownControlPlane }));
    await sc.mod.waitForLog(
      `watcher "Scheduling processed"`,
      r => r.msg === "Scheduling processed",
    );
    await ensureNamespace(sc.cp, MODULE_NAMESPACE);
    return sc;
  };

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
      const sc = await readyScenario(ownControlPlane);
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
      s = undefined;
    }
  };

  afterEach(async () => {
    await restarted?.stop();
    restarted = undefined;
    await s?.stop();
    s = undefined;
  });

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

    await waitObserved(sc.mod);
    report(
      "API server outage: observe created -> observed",
      observedRecords(sc.mod)[0].time - createdAt,
    );
    expect((await getStore(sc.cp))?.data).toEqual(EXPECTED_DATA);
    // Pepr's flusher lost the four writes (its retry re-queues undefined, then a 422 drops them);
    // the capability re-wrote all of them once.
    expect(byMsg(sc.mod, FLUSH_FAILED).length).toBeGreaterThan(0);
    expect(byMsg(sc.mod, "re-writing store keys")).toEqual([
      expect.objectContaining({ level: 40, missing: ALL_FOUR, attempt: 1 }),
    ]);
    expect(byMsg(sc.mod, "store writes not confirmed")).toEqual([]);
  });

  it("watcher SIGKILLed before its flush and restarted: the store is intact, no extra keys", async () => {
    const { sc } = await faultBeforeFlush(async target => {
      target.mod.kill("SIGKILL");
      expect(await target.mod.exited).toBe("SIGKILL");
      return Infinity; // any PATCH of the keys before the restart means the flush won
    });
    expect((await getStore(sc.cp))?.data).toEqual(PLACEHOLDER);

    // The restarted watcher lists ConfigMaps, sees observe as added, and runs the capability.
    restarted = await startModule(sc.cp);
    await waitObserved(restarted);
    expect((await getStore(sc.cp))?.data).toEqual(EXPECTED_DATA);
  });

  it("watcher SIGKILLed right after its PATCH and restarted: it reads the four keys back", async () => {
    const sc = await readyScenario();
    const createdAt = Date.now();
    await createConfigMap(sc.cp, MODULE_NAMESPACE, "observe");
    await waitFor("the flush PATCH", () =>
      patchesSince(sc.cp, createdAt).length > 0 ? true : undefined,
    );
    sc.mod.kill("SIGKILL");
    await sc.mod.exited;

    restarted = await startModule(sc.cp);
    // What Pepr hands the capability's Storage at start-up (Store.getItem reads it).
    const update = await restarted.waitForLog(
      `watcher "Pepr Store update"`,
      r => r.msg === "Pepr Store update",
    );
    expect(update.data).toEqual(EXPECTED_DATA);
    await waitObserved(restarted);
    expect((await getStore(sc.cp))?.data).toEqual(EXPECTED_DATA);
    expect(byMsg(restarted, "re-writing store keys")).toEqual([]);
  });

  it("another client patching the same CR before and after the flush: neither side loses keys", async () => {
    const sc = await readyScenario();
    // A first run shows the flush phase; its keys are then removed, so the run under test must
    // write them again.
    await createConfigMap(sc.cp, MODULE_NAMESPACE, "observe");
    await waitObserved(sc.mod, 1);
    await kubectl(sc.cp, ["delete", "configmap", "observe", "-n", MODULE_NAMESPACE]);
    await waitForWatchEvent(sc.mod, "DELETED", MODULE_NAMESPACE, "observe");
    const removeKeys = Object.keys(EXPECTED_DATA)
      .filter(key => key !== "__pepr_do_not_delete__")
      .map(key => ({
        op: "remove",
        path: `/data/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`,
      }));
    await kubectl(sc.cp, storePatchArgs(removeKeys));

    // An outside writer adds its own keys to the CR, one JSON patch after the other. Each patch
    // restarts Pepr's 1 s watch debounce, so while it writes the Store hears nothing and
    // setItemAndWait runs into its 15 s limit: the capability then confirms by reading the CR.
    const written: Record<string, string> = {};
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        const key = `external-writer-${i}`;
        const r = await kubectlRun(
          sc.cp,
          storePatchArgs([{ op: "add", path: `/data/${key}`, value: `${i}` }]),
        );
        if (r.code === 0) written[key] = `${i}`;
      }
    })();
    const isOutside = (p: AuditEvent) =>
      JSON.stringify(p.requestObject).includes("external-writer-");
    let createdAt = 0;
    let modulePatch: AuditEvent | undefined;
    try {
      await waitFor("the outside writer's first write", () =>
        Object.keys(written).length > 0 ? true : undefined,
      );
      // Aimed as bench/ aims its events: observe is created just after a flush tick, so about one
      // flush interval of outside writes comes before the capability's keys are sent.
      await waitUntil("just after a flush tick", nextPhase(sc.mod, Date.now(), AIM_AFTER_TICK_MS));
      createdAt = Date.now();
      await createConfigMap(sc.cp, MODULE_NAMESPACE, "observe");
      await waitObserved(sc.mod, 2);
      // ... and the outside writes go on until one has landed after the capability's PATCH.
      await waitFor("an outside write after the capability's flush", () => {
        const patches = patchesSince(sc.cp, createdAt);
        modulePatch = patches.find(p => JSON.stringify(p.requestObject).includes("v2-a"));
        const flushedAt = Date.parse(modulePatch?.stageTimestamp ?? "");
        return patches.some(p => isOutside(p) && Date.parse(p.requestReceivedTimestamp) > flushedAt)
          ? true
          : undefined;
      });
    } finally {
      stop = true;
      await writer;
    }

    const expected = { ...EXPECTED_DATA, ...written };
    const store = await waitForStore(
      sc.cp,
      "with every key",
      d => Object.keys(d).length === Object.keys(expected).length,
    );
    expect(store.data).toEqual(expected);
    // Both orders happened: outside writes after observe was created and before the capability's
    // PATCH, and after it.
    const flushedAt = Date.parse(modulePatch?.stageTimestamp ?? "");
    const outside = patchesSince(sc.cp, createdAt).filter(isOutside);
    expect(outside.some(p => Date.parse(p.stageTimestamp) < flushedAt)).toBe(true);
    expect(outside.some(p => Date.parse(p.requestReceivedTimestamp) > flushedAt)).toBe(true);
    expect(byMsg(sc.mod, "store writes not confirmed")).toEqual([]);
    report(
      `concurrent writer (${Object.keys(written).length} outside keys kept): observe created -> observed`,
      observedRecords(sc.mod)[1].time - createdAt,
    );
  });

  it("PeprStore CR deleted while the watcher runs: re-created, and the next event's keys land", async () => {
    const sc = await readyScenario();
    await createConfigMap(sc.cp, MODULE_NAMESPACE, "observe");
    await waitObserved(sc.mod, 1);
    await kubectl(sc.cp, ["delete", "peprstore", storeName(), "-n", STORE_NAMESPACE]);
    await kubectl(sc.cp, ["delete", "configmap", "observe", "-n", MODULE_NAMESPACE]);
    const recreatedAt = Date.now();
    await createConfigMap(sc.cp, MODULE_NAMESPACE, "observe");

    await waitObserved(sc.mod, 2);
    report(
      "CR deleted: observe re-created -> observed",
      observedRecords(sc.mod)[1].time - recreatedAt,
    );
    expect((await getStore(sc.cp))?.data).toEqual(EXPECTED_DATA);
    expect(byMsg(sc.mod, "store CR missing: creating it again")).toHaveLength(1);
    // Pepr's own flush of the event 404s and poisons its queue, so a second re-write can be needed.
    expect(byMsg(sc.mod, "re-writing store keys")[0]).toEqual(
      expect.objectContaining({ missing: ALL_FOUR, attempt: 1 }),
    );
    expect(byMsg(sc.mod, "store writes not confirmed")).toEqual([]);
  });
});
