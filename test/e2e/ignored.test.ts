// What the capability must ignore: observe in another namespace, other names, updates and deletes
// of observe. A wrongly triggered run would write the same four keys as a real one, and Pepr
// merges every write queued within one 4 s flush interval into one PATCH, so the decoys get a
// window of their own: after the first real trigger (which shows the flush phase), the decoys,
// then two whole flush intervals in which no PATCH may reach the store, then the second trigger.
import { PatchStrategy } from "@kubernetes/client-node";

import {
  ControlPlane,
  createConfigMap,
  deleteObject,
  ensureNamespace,
  getStore,
  objectApi,
  refusalOf,
  waitFor,
} from "../../cluster";
import { FLUSH_INTERVAL_MS } from "../../store/contract";
import {
  CACHE_ID_OP,
  EXPECTED_DATA,
  EXPECTED_OPS,
  MODULE_NAMESPACE,
  OBSERVE_CONFIGMAP,
  Scenario,
  nextPhase,
  observedRecords,
  patchesSince,
  startSyncedScenario,
  waitForObserved,
  waitForWatchEvent,
  waitUntil,
} from "./scenario";

const OTHER_NAMESPACE = "somewhere-else";
/** After the second tick, time for a PATCH sent on it to complete and reach the audit log. */
const PATCH_SETTLE_MS = 1_000;

/** Adds a label to observe (a merge patch, as `kubectl label` sends): an update of observe. */
async function labelObserve(cp: ControlPlane): Promise<void> {
  const labelled = {
    ...OBSERVE_CONFIGMAP,
    metadata: { ...OBSERVE_CONFIGMAP.metadata, labels: { touched: "yes" } },
  };
  // patch(spec, pretty, dryRun, fieldManager, force, patchStrategy)
  await objectApi(cp).patch(
    labelled,
    undefined,
    undefined,
    undefined,
    undefined,
    PatchStrategy.MergePatch,
  );
}

describe("events the capability ignores", () => {
  let s: Scenario;
  const marks: Record<string, number> = {};

  beforeAll(async () => {
    s = await startSyncedScenario();
    await ensureNamespace(s.cp, OTHER_NAMESPACE);

    // 1. the first real trigger: its PATCH shows when Pepr's flush ticks come
    marks.start = Date.now();
    await createConfigMap(s.cp, MODULE_NAMESPACE, "observe");
    await waitForObserved(s.mod, 1);
    await waitFor("the first flush", () =>
      patchesSince(s.cp, marks.start).length === 1 ? true : undefined,
    );
    marks.decoys = Date.now();
    // 2. observe in a namespace the capability does not watch: Pepr receives it and filters it out
    await createConfigMap(s.cp, OTHER_NAMESPACE, "observe");
    await waitForWatchEvent(s.mod, "ADDED", OTHER_NAMESPACE, "observe");
    // 3. other names in the watched namespace (Pepr's watch selects metadata.name=observe)
    await createConfigMap(s.cp, MODULE_NAMESPACE, "observe-1");
    await createConfigMap(s.cp, MODULE_NAMESPACE, "observer");
    // 4. update and delete observe
    await labelObserve(s.cp);
    await waitForWatchEvent(s.mod, "MODIFIED", MODULE_NAMESPACE, "observe");
    expect(await deleteObject(s.cp, OBSERVE_CONFIGMAP)).toBe(true);
    const lastDecoy = await waitForWatchEvent(s.mod, "DELETED", MODULE_NAMESPACE, "observe");
    // 5. two flush ticks after the watcher handled the last decoy: anything a decoy had queued
    // would have been sent on the first of them
    const secondTick = nextPhase(s.mod, lastDecoy.time, 0) + FLUSH_INTERVAL_MS;
    await waitUntil("two flush ticks after the decoys", secondTick + PATCH_SETTLE_MS);
    marks.secondCreate = Date.now();
    // 6. observe created again: the capability runs again with the same keys and values
    await createConfigMap(s.cp, MODULE_NAMESPACE, "observe");
    await waitForObserved(s.mod, 2);
    await waitFor("the second flush", () =>
      patchesSince(s.cp, marks.secondCreate).length === 1 ? true : undefined,
    );
  });

  afterAll(async () => {
    await s?.stop();
  });

  it("runs the capability once per creation of observe in its namespace, and only then", () => {
    expect(observedRecords(s.mod)).toHaveLength(2);
  });

  it("sends no PATCH for observe in another namespace, other names, updates and deletes of observe", () => {
    const inDecoyWindow = patchesSince(s.cp, marks.decoys).filter(
      p => Date.parse(p.requestReceivedTimestamp) < marks.secondCreate,
    );
    expect(inDecoyWindow).toEqual([]);
  });

  it("sends exactly the four keys once per real trigger: no decoy's keys merged into them", () => {
    const patches = patchesSince(s.cp, marks.start).map(p => p.requestObject);
    expect(patches).toEqual([
      [...EXPECTED_OPS, CACHE_ID_OP],
      [...EXPECTED_OPS, CACHE_ID_OP],
    ]);
  });

  it("leaves exactly the same data after observe is deleted and created again", async () => {
    expect((await getStore(s.cp))?.data).toEqual(EXPECTED_DATA);
  });

  it("cannot see Observe: the API server rejects upper-case names", async () => {
    const upperCase = {
      ...OBSERVE_CONFIGMAP,
      metadata: { name: "Observe", namespace: MODULE_NAMESPACE },
    };
    expect(await refusalOf(objectApi(s.cp).create(upperCase))).toEqual({
      code: 422,
      message:
        "ConfigMap \"Observe\" is invalid: metadata.name: Invalid value: \"Observe\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    });
  });
});
