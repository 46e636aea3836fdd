// The mission on a real API server: creating ConfigMap observe makes the capability write four keys
// through the Pepr Store, and Pepr persists them, batched, in the module's PeprStore CR.
import { execFileSync } from "node:child_process";

import {
  ControlPlane,
  createConfigMap,
  createObject,
  getStore,
  kubectl,
  LogRecord,
  ModuleProcess,
  objectApi,
  PeprStoreObject,
  peprStoreObject,
  startModule,
  waitForStore,
} from "../../cluster";
import { STORE_NAMESPACE, storeName } from "../../store/contract";
import {
  CACHE_ID_OP,
  EXPECTED_DATA,
  EXPECTED_OPS,
  MODULE_NAMESPACE,
  OBSERVED_TIMEOUT_MS,
  PLACEHOLDER,
  Scenario,
  observedRecords,
  patchesSince,
  report,
  startScenario,
} from "./scenario";
import { cleanSharedCluster } from "./shared-cluster";

describe("ConfigMap observe created in hello-pepr-store-resources", () => {
  let s: Scenario;
  let createdAt: number;
  let observed: LogRecord;

  beforeAll(async () => {
    s = await startScenario();
    // Pepr creates the schedule store a moment after startup; wait so its PATCHes are done.
    await s.mod.waitForLog(`watcher "Scheduling processed"`, r => r.msg === "Scheduling processed");
    createdAt = Date.now();
    await createConfigMap(s.cp, MODULE_NAMESPACE, "observe");
    observed = await s.mod.waitForLog(
      `watcher "observed"`,
      r => r.msg === "observed",
      OBSERVED_TIMEOUT_MS,
    );
    report("observe created -> observed logged", observed.time - createdAt);
  });

  afterAll(async () => {
    await s?.stop();
  });

  it("serves its port 3000 on 127.0.0.1 only (it holds the admin kubeconfig)", () => {
    const listeners = execFileSync("ss", ["-H", "-ltnp"], { encoding: "utf8" })
      .split("\n")
      .filter(line => line.includes(`pid=${s.mod.pid},`))
      .map(line => line.trim().split(/\s+/)[3]);
    expect(listeners).toEqual(["127.0.0.1:3000"]);
  });

  it("logs observed exactly once, as a pino info record", () => {
    expect(observedRecords(s.mod)).toEqual([
      expect.objectContaining({ level: 30, msg: "observed", time: observed.time }),
    ]);
  });

  it("keeps the Store in the CR pepr-<uuid>-store; Pepr's schedule CR holds only the placeholder", async () => {
    const { apiVersion, kind } = peprStoreObject();
    const list = await objectApi(s.cp).list<PeprStoreObject>(apiVersion, kind, STORE_NAMESPACE);
    const byName = Object.fromEntries(list.items.map(i => [i.metadata.name, i.data]));
    expect(Object.keys(byName).sort()).toEqual([
      "pepr-hello-pepr-store-resources-schedule",
      "pepr-hello-pepr-store-resources-store",
    ]);
    expect(storeName()).toBe("pepr-hello-pepr-store-resources-store");
    expect(byName["pepr-hello-pepr-store-resources-schedule"]).toEqual(PLACEHOLDER);
  });

  it("holds exactly the placeholder and the four keys, prefixed <capability>-v2-", async () => {
    const store = await getStore(s.cp);
    expect(store?.data).toEqual(EXPECTED_DATA);
    expect(store?.metadata.labels?.["pepr.dev-cacheID"]).toMatch(/^\d{13}$/);
  });

  it("sends the four writes in ONE PATCH, in the order the capability made them", () => {
    const patches = patchesSince(s.cp, createdAt);
    expect(patches).toHaveLength(1);
    expect(patches[0].responseStatus?.code).toBe(200);
    expect(patches[0].requestObject).toEqual([...EXPECTED_OPS, CACHE_ID_OP]);
  });

  it("logs observed only after the API server persisted https://observed", () => {
    const [patch] = patchesSince(s.cp, createdAt);
    const persistedAt = Date.parse(patch.stageTimestamp);
    report("observe created -> PATCH persisted", persistedAt - createdAt);
    report("PATCH persisted -> observed logged", observed.time - persistedAt);
    expect(observed.time).toBeGreaterThanOrEqual(persistedAt);
  });

  it("is what `kubectl get peprstore -n pepr-system -o yaml` shows", async () => {
    const yaml = await kubectl(s.cp, [
      "get",
      "peprstore",
      storeName(),
      "-n",
      STORE_NAMESPACE,
      "-o",
      "yaml",
    ]);
    for (const line of [
      "  __pepr_do_not_delete__: k-thx-bye",
      '  hello-pepr-store-resources-v2-a: "1"',
      '  hello-pepr-store-resources-v2-b: "2"',
      '  hello-pepr-store-resources-v2-c: "3"',
      "  hello-pepr-store-resources-v2-https://observed: yay",
    ]) {
      expect(yaml.split("\n")).toContain(line);
    }
  });
});

describe("a PeprStore written before the v2 key format", () => {
  let cp: ControlPlane;
  let mod: ModuleProcess | undefined;
  const legacy = (labels?: Record<string, string>) => ({
    ...peprStoreObject(),
    metadata: { name: storeName(), namespace: STORE_NAMESPACE, ...(labels ? { labels } : {}) },
    data: { ...PLACEHOLDER, "hello-pepr-store-resources-testing": "migrated" },
  });
  const MIGRATED = { ...PLACEHOLDER, "hello-pepr-store-resources-v2-testing": "migrated" };
  const MIGRATION_PATCH = [
    { op: "remove", path: "/data/hello-pepr-store-resources-testing" },
    { op: "add", path: "/data/hello-pepr-store-resources-v2-testing", value: "migrated" },
    CACHE_ID_OP,
  ];

  const waitForMigration = (c: ControlPlane) =>
    waitForStore(c, "migrated", d => "hello-pepr-store-resources-v2-testing" in d);

  beforeEach(async () => {
    cp = await cleanSharedCluster();
  });

  afterEach(async () => {
    await mod?.stop();
    mod = undefined;
  });

  it("is migrated at start-up: <capability>-testing becomes <capability>-v2-testing", async () => {
    // Stores Pepr created carry the pepr.dev-cacheID label.
    await createObject(cp, legacy({ "pepr.dev-cacheID": "1700000000000" }));
    const startedAt = Date.now();
    mod = await startModule(cp);
    expect((await waitForMigration(cp)).data).toEqual(MIGRATED);
    expect(patchesSince(cp, startedAt).map(p => p.requestObject)).toContainEqual(MIGRATION_PATCH);
  });

  it("without any label is only migrated at the second start (Pepr 1.1.4's first label patch fails)", async () => {
    // migrateStore.ts first PATCHes `add /metadata/labels/pepr.dev-cacheID`, which the API server
    // rejects (422) when metadata.labels is absent; Pepr then falls back to creating the store
    // (server-side apply: adds the label, keeps the data) and leaves the old key as it is.
    await createObject(cp, legacy());
    mod = await startModule(cp);
    await waitForStore(
      cp,
      "labelled by the fallback",
      (_d, s) => s.metadata.labels?.["pepr.dev-cacheID"] !== undefined,
    );
    expect((await getStore(cp))?.data).toEqual({
      ...PLACEHOLDER,
      "hello-pepr-store-resources-testing": "migrated",
    });
    await mod.stop();

    mod = await startModule(cp);
    expect((await waitForMigration(cp)).data).toEqual(MIGRATED);
  });
});
