// The module deployed as users deploy it: the controller image built here and loaded into the
// local cluster's node, `npx pepr deploy --yes`, the watcher in a pod started by the Deployment
// with its ServiceAccount token and its Secrets. The store, the audit log and `kubectl logs` are
// read exactly. These tests fail, never skip, when the node cannot start here.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Writable } from "node:stream";

import { Exec, KubeConfig, V1Deployment, V1Pod } from "@kubernetes/client-node";

import {
  ControlPlane,
  createConfigMap,
  createObject,
  deleteObject,
  getStore,
  kubectl,
  loadControllerImage,
  objectApi,
  peprStoreObject,
  peprDeploy,
  prepareCluster,
  waitFor,
  waitForStore,
  waitForWatcherPod,
  watcherDeployment,
  watcherPods,
} from "../../../cluster";
import { buildOutputs } from "../../../cluster/paths";
import { DEFAULT_POD_READY_TIMEOUT_MS, watcherServiceAccount } from "../../../cluster/pepr-deploy";
import { PLACEHOLDER, STORE_NAMESPACE, storeName } from "../../../store/contract";
import {
  CACHE_ID_OP,
  EXPECTED_DATA,
  EXPECTED_OPS,
  MODULE_NAMESPACE,
  OBSERVE_CONFIGMAP,
  patchesSince,
  report,
} from "../scenario";
import {
  deniedForWatcher,
  observedByPod,
  SERVICE_ACCOUNT_USER,
  useDeployment,
  useNodeCluster,
  waitForObservedIn,
  watcherPodObject,
} from "./deployed";
import { copyModule } from "./module-copy";

/** The field the changed capability adds to its `observed` record. */
const CHANGED_VARIANT = "changed-for-redeploy-test";

/** What `pepr deploy` makes in pepr-system, compared before and after a second deploy. */
const DEPLOYED_KINDS = [
  ["apps/v1", "Deployment"],
  ["v1", "Service"],
  ["v1", "Secret"],
  ["v1", "ServiceAccount"],
  ["rbac.authorization.k8s.io/v1", "Role"],
  ["rbac.authorization.k8s.io/v1", "RoleBinding"],
];

/** The module hash the watcher Deployment runs: its container's second arg. */
async function deployedHash(cp: ControlPlane): Promise<string> {
  const deployment = await objectApi(cp).read<V1Deployment>({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: watcherDeployment(), namespace: STORE_NAMESPACE },
  });
  const hash = deployment.spec?.template.spec?.containers[0].args?.[1];
  if (!hash) throw new Error(`Deployment ${watcherDeployment()}: no module hash in its args`);
  return hash;
}

/** `Kind/name` of every object of {@link DEPLOYED_KINDS} in pepr-system. */
async function deployedObjects(cp: ControlPlane): Promise<string[]> {
  const lists = await Promise.all(
    DEPLOYED_KINDS.map(([apiVersion, kind]) =>
      objectApi(cp).list(apiVersion, kind, STORE_NAMESPACE),
    ),
  );
  return lists.flatMap((list, i) =>
    list.items.map(o => `${DEPLOYED_KINDS[i][1]}/${o.metadata?.name}`),
  );
}

/**
 * Runs `command` in the pod's first container, as `kubectl exec` does (client-node's Exec, over a
 * WebSocket); resolves with its stdout once it exited 0.
 */
function execInPod(cp: ControlPlane, pod: V1Pod, command: string[]): Promise<string> {
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  const { name = "", namespace = "" } = pod.metadata ?? {};
  const container = pod.spec?.containers[0].name ?? "";
  const what = `exec ${command.join(" ")} in pod ${namespace}/${name}`;
  const output = { stdout: "", stderr: "" };
  const into = (stream: keyof typeof output) =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        output[stream] += chunk.toString();
        done();
      },
    });
  return new Promise((resolve, reject) => {
    const exited = (status: { status?: string; message?: string }) =>
      status.status === "Success"
        ? resolve(output.stdout)
        : reject(new Error(`${what}: ${status.message}; stderr: ${output.stderr}`));
    new Exec(kc)
      .exec(
        namespace,
        name,
        container,
        command,
        into("stdout"),
        into("stderr"),
        null,
        false,
        exited,
      )
      // after the exit status, the close changes nothing: the promise is settled
      .then(ws => ws.on("close", () => reject(new Error(`${what}: closed without an exit status`))))
      .catch(reject);
  });
}

/** One cluster for the file; each describe deploys afresh on it (./deployed.ts). */
const cluster = useNodeCluster();

describe("npx pepr deploy on the local cluster's node", () => {
  const d = useDeployment(cluster);

  it("runs the watcher from ghcr.io/defenseunicorns/pepr/controller:v1.1.4 as 65532", async () => {
    const pod = await objectApi(d.cp).read<V1Pod>(watcherPodObject(d.pod));
    const statuses = pod.status?.containerStatuses ?? [];
    expect(statuses.map(s => [s.image, s.ready, s.restartCount])).toEqual([
      ["ghcr.io/defenseunicorns/pepr/controller:v1.1.4", true, 0],
    ]);
    expect(pod.spec?.serviceAccountName).toBe(watcherServiceAccount());
    const uid = await execInPod(d.cp, pod, ["node", "-p", "process.getuid()"]);
    expect(uid).toBe("65532\n");
  });

  it("writes the four keys for `observe` in one PATCH from its ServiceAccount, logs observed", async () => {
    const createdAt = Date.now();
    await createConfigMap(d.cp, MODULE_NAMESPACE, "observe");
    const observed = await waitForObservedIn(d.logs, createdAt);
    report(
      "observe created → observed in kubectl logs (deployed watcher)",
      observed.time - createdAt,
    );
    expect((await getStore(d.cp))?.data).toEqual(EXPECTED_DATA);
    const patches = patchesSince(d.cp, createdAt);
    expect(patches.map(p => [p.user.username, p.responseStatus?.code])).toEqual([
      [SERVICE_ACCOUNT_USER, 200],
    ]);
    expect(patches[0].requestObject).toEqual([...EXPECTED_OPS, CACHE_ID_OP]);
    expect(deniedForWatcher(d)).toEqual([]);
    // the user's command (README): how a user sees the watcher's `observed`
    const plain = await kubectl(d.cp, ["logs", "-n", STORE_NAMESPACE, d.pod]);
    expect(plain.split("\n").filter(l => l.includes('"msg":"observed"'))).toHaveLength(1);
  });

  it("deployed again: the same objects, a new pod, and the store kept as it was", async () => {
    const before = { objects: await deployedObjects(d.cp), data: (await getStore(d.cp))?.data };
    const redeployedAt = Date.now();
    await peprDeploy(d.cp);
    const pod = await waitForWatcherPod(d.cp, { exclude: [d.pod] });
    expect(await deployedObjects(d.cp)).toEqual(before.objects);
    expect(before.data).toEqual(EXPECTED_DATA);
    expect((await getStore(d.cp))?.data).toEqual(before.data);
    // the new pod reads the store and re-runs the capability for the existing `observe`: one
    // PATCH re-adds the same four values and removes nothing
    await observedByPod(d.cp, pod.metadata?.name as string, redeployedAt);
    const dataOps = patchesSince(d.cp, redeployedAt)
      .flatMap(p => p.requestObject as { path: string }[])
      .filter(op => op.path.startsWith("/data/"));
    expect(dataOps).toEqual(EXPECTED_OPS);
    expect((await getStore(d.cp))?.data).toEqual(EXPECTED_DATA);
    expect(deniedForWatcher(d)).toEqual([]);
  });
  it("-i <name>: deploys another image name loaded into the node, keeping the store", async () => {
    const other = "localhost/hello-pepr-store-resources/pepr-controller:e2e";
    await loadControllerImage(d.cp, { name: other, onProgress: () => undefined });
    const pods = (await watcherPods(d.cp)).map(p => p.metadata?.name as string);
    await peprDeploy(d.cp, { image: other });
    const pod = await waitForWatcherPod(d.cp, { exclude: pods });
    expect(pod.status?.containerStatuses?.map(c => [c.image, c.ready])).toEqual([[other, true]]);
    expect((await getStore(d.cp))?.data).toEqual(EXPECTED_DATA);
  });

  it("deployed after a change to the capability: rolls out the new module hash, keeps the store", async () => {
    // the change: the `observed` record carries one more field, so the bundle and its hash change
    const copy = copyModule({ linkNodeModules: true });
    try {
      copy.edit(
        "capabilities/hello-pepr-store-resources.ts",
        'Log.info("observed");',
        `Log.info({ variant: "${CHANGED_VARIANT}" }, "observed");`,
      );
      const oldHash = await deployedHash(d.cp);
      const oldPods = (await watcherPods(d.cp)).map(p => p.metadata?.name as string);
      const before = (await getStore(d.cp))?.data;
      const redeployedAt = Date.now();
      await peprDeploy(d.cp, { cwd: copy.dir });
      const newHash = createHash("sha256")
        .update(readFileSync(buildOutputs(copy.dir).bundle))
        .digest("hex");
      expect(newHash).not.toBe(oldHash);
      expect(await deployedHash(d.cp)).toBe(newHash);
      const pod = (await waitForWatcherPod(d.cp, { exclude: oldPods })).metadata?.name as string;
      await waitFor(
        `only the new watcher pod ${pod} left`,
        async () => {
          const names = (await watcherPods(d.cp)).map(p => p.metadata?.name);
          return names.length === 1 && names[0] === pod ? names : undefined;
        },
        DEFAULT_POD_READY_TIMEOUT_MS,
      );
      const { spec } = await objectApi(d.cp).read<V1Pod>(watcherPodObject(pod));
      expect(spec?.containers.map(c => c.args)).toEqual([
        ["/app/node_modules/pepr/dist/controller.js", newHash],
      ]);
      expect(before).toEqual(EXPECTED_DATA);
      expect((await getStore(d.cp))?.data).toEqual(before);
      // the new module handles a re-created `observe`: its own `observed` record, the store exact
      expect(await deleteObject(d.cp, OBSERVE_CONFIGMAP)).toBe(true);
      const recreatedAt = Date.now();
      await createConfigMap(d.cp, MODULE_NAMESPACE, "observe");
      const observed = await observedByPod(d.cp, pod, recreatedAt);
      expect(observed.variant).toBe(CHANGED_VARIANT);
      report(
        "changed module: npx pepr deploy → observed for a re-created observe",
        Date.now() - redeployedAt,
      );
      expect((await getStore(d.cp))?.data).toEqual(EXPECTED_DATA);
      expect(deniedForWatcher(d)).toEqual([]);
    } finally {
      copy.remove();
    }
  });
});

describe("a PeprStore with an unmigrated key, applied before the deploy", () => {
  const d = useDeployment(cluster, async cp => {
    await prepareCluster(cp); // pepr-system and the CRD, as `pepr deploy` would apply them
    await createObject(cp, {
      ...peprStoreObject(),
      metadata: {
        name: storeName(),
        namespace: STORE_NAMESPACE,
        labels: { "pepr.dev-cacheID": "1700000000000" },
      },
      data: { ...PLACEHOLDER, "hello-pepr-store-resources-testing": "migrated" },
    });
  });

  it("ends with the -v2- key, the four keys and the placeholder", async () => {
    await waitForStore(d.cp, "migrated", data => "hello-pepr-store-resources-v2-testing" in data);
    const createdAt = Date.now();
    await createConfigMap(d.cp, MODULE_NAMESPACE, "observe");
    await waitForObservedIn(d.logs, createdAt);
    expect((await getStore(d.cp))?.data).toEqual({
      ...EXPECTED_DATA,
      "hello-pepr-store-resources-v2-testing": "migrated",
    });
    expect(deniedForWatcher(d)).toEqual([]);
  });
});
