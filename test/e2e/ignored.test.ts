// What the capability must ignore: observe in another namespace, other names, updates and deletes
// of observe. Each ignored event is followed by an event that does trigger the capability, and the
// watcher handles events in order, so "observed" counts and PATCHes tell exactly what ran.
import {
  createConfigMap,
  ensureNamespace,
  getStore,
  kubectl,
  kubectlRun,
  waitFor,
} from "../../cluster";
import {
  EXPECTED_DATA,
  MODULE_NAMESPACE,
  Scenario,
  observedRecords,
  patchesSince,
  startScenario,
  waitForObserved,
  waitForWatchEvent,
} from "./scenario";

const OTHER_NAMESPACE = "somewhere-else";

describe("events the capability ignores", () => {
  let s: Scenario;
  const marks: Record<string, number> = {};

  /** Waits until "observed" has been logged `n` times in all. */
  beforeAll(async () => {
    s = await startScenario();
    await s.mod.waitForLog(`watcher "Scheduling processed"`, r => r.msg === "Scheduling processed");
    await ensureNamespace(s.cp, MODULE_NAMESPACE);

    marks.start = Date.now();
    // 1. observe in a namespace the capability does not watch: Pepr receives it and filters it out.
    await createConfigMap(s.cp, OTHER_NAMESPACE, "observe");
    await waitForWatchEvent(s.mod, "ADDED", OTHER_NAMESPACE, "observe");
    // 2. other names in the watched namespace (Pepr's watch selects metadata.name=observe).
    await createConfigMap(s.cp, MODULE_NAMESPACE, "observe-1");
    await createConfigMap(s.cp, MODULE_NAMESPACE, "observer");
    // 3. the first real trigger
    marks.firstCreate = Date.now();
    await createConfigMap(s.cp, MODULE_NAMESPACE, "observe");
    await waitForObserved(s.mod, 1);
    await waitFor("the first flush", () =>
      patchesSince(s.cp, marks.firstCreate).length === 1 ? true : undefined,
    );
    marks.afterFirst = Date.now();
    // 4. update and delete observe
    await kubectl(s.cp, ["label", "configmap", "observe", "-n", MODULE_NAMESPACE, "touched=yes"]);
    await waitForWatchEvent(s.mod, "MODIFIED", MODULE_NAMESPACE, "observe");
    await kubectl(s.cp, ["delete", "configmap", "observe", "-n", MODULE_NAMESPACE]);
    await waitForWatchEvent(s.mod, "DELETED", MODULE_NAMESPACE, "observe");
    marks.beforeSecond = Date.now();
    // 5. observe created again: the capability runs again with the same keys and values
    await createConfigMap(s.cp, MODULE_NAMESPACE, "observe");
    await waitForObserved(s.mod, 2);
  });

  afterAll(async () => {
    await s?.stop();
  });

  it("runs the capability once per creation of observe in its namespace, and only then", () => {
    expect(observedRecords(s.mod)).toHaveLength(2);
  });

  it("writes nothing for observe in another namespace or other names", () => {
    expect(
      patchesSince(s.cp, marks.start).filter(p => Date.parse(p.stageTimestamp) < marks.firstCreate),
    ).toEqual([]);
  });

  it("writes nothing for updates and deletes of observe", () => {
    expect(
      patchesSince(s.cp, marks.afterFirst).filter(
        p => Date.parse(p.stageTimestamp) < marks.beforeSecond,
      ),
    ).toEqual([]);
  });

  it("leaves exactly the same data after observe is deleted and created again", async () => {
    expect((await getStore(s.cp))?.data).toEqual(EXPECTED_DATA);
  });

  it("cannot see Observe: the API server rejects upper-case names", async () => {
    const result = await kubectlRun(s.cp, [
      "create",
      "configmap",
      "Observe",
      "-n",
      MODULE_NAMESPACE,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("a lowercase RFC 1123 subdomain");
  });
});
