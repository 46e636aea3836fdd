// Lose nothing: faults that hit once the watcher runs and its keys are being flushed, on the real
// control plane: the watcher killed after its PATCH, another writer on the same CR, the CR
// deleted. Each test asserts the exact CR data at the end. Faults that hit before Pepr's first
// flush are in faults-before-flush.test.ts.

import {
  ControlPlane,
  createConfigMap,
  deleteObject,
  getStore,
  patchStore,
  peprStoreObject,
  sleep,
  startModule,
  waitFor,
  waitForStore,
  type AuditEvent,
} from "../../cluster";
import { storeName } from "../../store/contract";
import {
  OBSERVE_KEYS,
  EXPECTED_DATA,
  MODULE_NAMESPACE,
  OBSERVE_CONFIGMAP,
  observedRecords,
  patchesSince,
  recordsWithMsg,
  report,
  startSyncedScenario,
  stopAfterEach,
  nextPhase,
  waitForObserved,
  waitForWatchEvent,
  waitUntil,
} from "./scenario";

/** Where the concurrent-writer test creates observe: this long after a flush tick. */
const AIM_AFTER_TICK_MS = 200;
/**
 * The outside writer's pause between two patches: well under Pepr's 1 s watch debounce, so the
 * Store hears nothing while it writes, without growing the CR by hundreds of keys a second.
 */
const OUTSIDE_WRITE_PAUSE_MS = 100;

/** A JSON patch of the module's PeprStore. */
const patchModuleStore = (cp: ControlPlane, ops: object[]) =>
  patchStore(cp, { name: storeName() }, ops);

describe("faults after the flush", () => {
  const started = stopAfterEach();

  it("watcher SIGKILLed right after its PATCH and restarted: it reads the four keys back", async () => {
    const sc = (started.scenario = await startSyncedScenario());
    const createdAt = Date.now();
    await createConfigMap(sc.cp, MODULE_NAMESPACE, "observe");
    await waitFor("the flush PATCH", () =>
      patchesSince(sc.cp, createdAt).length > 0 ? true : undefined,
    );
    sc.mod.kill("SIGKILL");
    await sc.mod.exited;

    const restarted = (started.restarted = await startModule(sc.cp));
    // What Pepr hands the capability's Storage at start-up (Store.getItem reads it).
    const update = await restarted.waitForLog(
      `watcher "Pepr Store update"`,
      r => r.msg === "Pepr Store update",
    );
    expect(update.data).toEqual(EXPECTED_DATA);
    await waitForObserved(restarted, 1);
    expect((await getStore(sc.cp))?.data).toEqual(EXPECTED_DATA);
    expect(recordsWithMsg(restarted, "re-writing store keys")).toEqual([]);
  });

  it("another client patching the same CR before and after the flush: neither side loses keys", async () => {
    const sc = (started.scenario = await startSyncedScenario());
    // A first run shows the flush phase; its keys are then removed, so the run under test must
    // write them again.
    await createConfigMap(sc.cp, MODULE_NAMESPACE, "observe");
    await waitForObserved(sc.mod, 1);
    expect(await deleteObject(sc.cp, OBSERVE_CONFIGMAP)).toBe(true);
    await waitForWatchEvent(sc.mod, "DELETED", MODULE_NAMESPACE, "observe");
    const removeKeys = Object.keys(EXPECTED_DATA)
      .filter(key => key !== "__pepr_do_not_delete__")
      .map(key => ({
        op: "remove",
        path: `/data/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`,
      }));
    await patchModuleStore(sc.cp, removeKeys);

    // An outside writer adds its own keys to the CR, one JSON patch after the other. Each patch
    // restarts Pepr's 1 s watch debounce, so while it writes the Store hears nothing and
    // setItemAndWait runs into its 15 s limit: the capability then confirms by reading the CR.
    const written: Record<string, string> = {};
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        const key = `external-writer-${i}`;
        // a patch the API server refused wrote nothing: only accepted keys are expected
        const accepted = await patchModuleStore(sc.cp, [
          { op: "add", path: `/data/${key}`, value: `${i}` },
        ]).then(
          () => true,
          () => false,
        );
        if (accepted) written[key] = `${i}`;
        await sleep(OUTSIDE_WRITE_PAUSE_MS);
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
      await waitForObserved(sc.mod, 2);
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
    expect(recordsWithMsg(sc.mod, "store writes not confirmed")).toEqual([]);
    report(
      `concurrent writer (${Object.keys(written).length} outside keys kept): observe created -> observed`,
      observedRecords(sc.mod)[1].time - createdAt,
    );
  });

  it("PeprStore CR deleted while the watcher runs: re-created, and the next event's keys land", async () => {
    const sc = (started.scenario = await startSyncedScenario());
    await createConfigMap(sc.cp, MODULE_NAMESPACE, "observe");
    await waitForObserved(sc.mod, 1);
    expect(await deleteObject(sc.cp, peprStoreObject())).toBe(true);
    expect(await deleteObject(sc.cp, OBSERVE_CONFIGMAP)).toBe(true);
    const recreatedAt = Date.now();
    await createConfigMap(sc.cp, MODULE_NAMESPACE, "observe");

    await waitForObserved(sc.mod, 2);
    report(
      "CR deleted: observe re-created -> observed",
      observedRecords(sc.mod)[1].time - recreatedAt,
    );
    expect((await getStore(sc.cp))?.data).toEqual(EXPECTED_DATA);
    expect(recordsWithMsg(sc.mod, "store CR missing: creating it again")).toHaveLength(1);
    // Pepr's own flush of the event 404s and poisons its queue, so a second re-write can be needed.
    expect(recordsWithMsg(sc.mod, "re-writing store keys")[0]).toEqual(
      expect.objectContaining({ missing: OBSERVE_KEYS, attempt: 1 }),
    );
    expect(recordsWithMsg(sc.mod, "store writes not confirmed")).toEqual([]);
  });
});
