// README.md's "Deploy on your own cluster", run verbatim against the local cluster with a node:
// its commands are read from the README (../readme.ts), run one line at a time by bash in a copy
// of the repository (so `npm ci` does not touch this checkout) with KUBECONFIG pointing at the
// local cluster and its kubectl first on PATH. The controller image is loaded into the node
// first: that is the "cluster that can pull" the image. The removal the section documents is run
// the same way, and what it removes and keeps is read back. The tests run in order, as a user
// goes through the section.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";

import {
  ControlPlane,
  createObject,
  crdObject,
  getStore,
  namespaceObject,
  objectApi,
  peprStoreObject,
  readObject,
  waitFor,
  waitForWatcherPod,
  watcherPods,
} from "../../../cluster";
import {
  PEPR_STORE_RESOURCE,
  PLACEHOLDER,
  scheduleStoreName,
  STORE_NAMESPACE,
  storeName,
} from "../../../store/contract";
import { existingManifestObjects } from "../manifest-objects";
import { readmeSection, runAsUser } from "../readme";
import { EXPECTED_DATA, MODULE_NAMESPACE, report } from "../scenario";
import { observedByPod, SUITE_TIMEOUT_MS, useNodeCluster } from "./deployed";
import { copyModule, ModuleCopy } from "./module-copy";

const SECTION = "Deploy on your own cluster";
const MANIFEST = "dist/pepr-module-hello-pepr-store-resources.yaml";
/** Another Pepr module's store in pepr-system: the README says removal decides its fate too. */
const OTHER_STORE = {
  apiVersion: "pepr.dev/v1",
  kind: "PeprStore",
  metadata: { name: "pepr-another-module-store", namespace: STORE_NAMESPACE },
  data: { ...PLACEHOLDER, "another-capability-v2-key": "value" },
};

interface Run {
  line: string;
  code: number | null;
  stdout: string;
  stderr: string;
}

describe(`README.md "${SECTION}", run verbatim on the local cluster`, () => {
  const commands = readmeSection(SECTION);
  const cluster = useNodeCluster();
  let cp: ControlPlane;
  let copy: ModuleCopy;

  /** Runs one README line with bash (pipefail, as a careful user's shell) in the copy. */
  const run = (line: string): Promise<Run> =>
    new Promise(resolve => {
      const child = spawn("bash", ["-o", "pipefail", "-c", line], {
        cwd: copy.dir,
        env: {
          ...process.env,
          KUBECONFIG: cp.kubeconfig,
          KUBECACHEDIR: path.join(cp.local?.dataDir ?? "", "kubectl-cache"),
          KUBERC: "off",
          NO_COLOR: "1",
          PATH: `${path.dirname(cp.kubectl)}${path.delimiter}${process.env.PATH}`,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      const out = { stdout: "", stderr: "" };
      child.stdout.on("data", chunk => (out.stdout += chunk));
      child.stderr.on("data", chunk => (out.stderr += chunk));
      child.on("close", code => resolve({ line, code, ...out }));
    });
  /** The names of the PeprStores in pepr-system. */
  const stores = async () => {
    const { apiVersion, kind } = peprStoreObject();
    const { items } = await objectApi(cp).list(apiVersion, kind, STORE_NAMESPACE);
    return items.map(s => s.metadata?.name);
  };

  /** The manifest's objects that exist, as `Kind/name`. */
  const manifestObjects = () => existingManifestObjects(cp, path.join(copy.dir, MANIFEST));

  beforeAll(() => {
    cp = cluster.cp;
    copy = copyModule();
  });

  afterAll(() => {
    copy?.remove();
  });

  it("the section shows the deploy block, the removal block and the kubectl apply/delete -f lines", () => {
    expect(commands.blocks.map(block => block.map(line => line.split(/\s+#/)[0].trim()))).toEqual([
      [
        "npm ci",
        "npx pepr build",
        "npx pepr deploy --yes",
        "kubectl create ns hello-pepr-store-resources",
        "kubectl create cm observe -n hello-pepr-store-resources",
        `kubectl logs -n pepr-system deploy/pepr-hello-pepr-store-resources-watcher | grep '"msg":"observed"'`,
        "kubectl get peprstore -n pepr-system -o yaml",
      ],
      [
        `kubectl create --dry-run=client -o name -f ${MANIFEST} | grep -v '^namespace/' | xargs kubectl delete -n pepr-system`,
      ],
    ]);
    expect(commands.inline("kubectl apply -f")).toEqual([`kubectl apply -f ${MANIFEST}`]);
    expect(commands.inline("kubectl delete -f")).toEqual([`kubectl delete -f ${MANIFEST}`]);
  });

  it(
    "the deploy block: each line exits 0; observed in the logs, the four keys in the PeprStore",
    async () => {
      const runs: Run[] = [];
      for (const line of commands.blocks[0]) {
        const started = Date.now();
        const result = await runAsUser(line, () => run(line));
        report(`README: ${line.split(/\s+#/)[0]}`, Date.now() - started);
        expect({ line, code: result.code, stderr: result.code === 0 ? "" : result.stderr }).toEqual(
          {
            line,
            code: 0,
            stderr: "",
          },
        );
        runs.push(result);
      }
      const output = (prefix: string) => runs.find(r => r.line.startsWith(prefix))?.stdout;
      expect(existsSync(path.join(copy.dir, MANIFEST))).toBe(true);
      expect(output("kubectl create ns")).toBe(`namespace/${MODULE_NAMESPACE} created\n`);
      expect(output("kubectl create cm")).toBe("configmap/observe created\n");
      const records = (output("kubectl logs") ?? "")
        .trim()
        .split("\n")
        .map(l => JSON.parse(l));
      expect(records.map(r => r.msg)).toEqual(["observed"]);
      const list = parse(output("kubectl get peprstore") ?? "") as {
        items: { metadata: { name: string }; data: Record<string, string> }[];
      };
      // beside the store, the watcher creates Pepr's schedule store (placeholder only)
      expect(list.items.map(s => [s.metadata.name, s.data])).toEqual([
        [scheduleStoreName(), PLACEHOLDER],
        [storeName(), EXPECTED_DATA],
      ]);
      const pod = await waitForWatcherPod(cp);
      expect(pod.status?.containerStatuses?.map(c => c.image)).toEqual([
        "ghcr.io/defenseunicorns/pepr/controller:v1.1.4",
      ]);
    },
    SUITE_TIMEOUT_MS,
  ); // npm ci, two module builds and a rollout

  it("the removal block removes every object of the manifest but the Namespace, keeping the PeprStores", async () => {
    await createObject(cp, OTHER_STORE);
    const result = await run(commands.blocks[1][0]);
    // the ClusterRole and ClusterRoleBinding are meant: kubectl only notes that -n does not apply
    expect([result.code, result.stderr]).toEqual([
      0,
      "Warning: deleting cluster-scoped resources, not scoped to the provided namespace\n",
    ]);
    expect(await manifestObjects()).toEqual([`Namespace/${STORE_NAMESPACE}`]);
    await waitFor(
      "the watcher pods to be gone",
      async () => ((await watcherPods(cp)).length === 0 ? true : undefined),
      120_000,
    );
    expect(await stores()).toEqual([OTHER_STORE.metadata.name, scheduleStoreName(), storeName()]);
    expect((await getStore(cp))?.data).toEqual(EXPECTED_DATA);
  });

  it("kubectl apply -f of the manifest brings the watcher back on the kept PeprStore", async () => {
    const appliedAt = Date.now();
    const result = await run(commands.inline("kubectl apply -f")[0]);
    // the one object left, pepr-system, was made by `pepr deploy` (server-side apply), not by
    // kubectl apply: kubectl notes it and adds its annotation
    expect([result.code, result.stderr]).toEqual([
      0,
      "Warning: resource namespaces/pepr-system is missing the kubectl.kubernetes.io/last-applied-configuration annotation which is required by kubectl apply. kubectl apply should only be used on resources created declaratively by either kubectl create --save-config or kubectl apply. The missing annotation will be patched automatically.\n",
    ]);
    const pod = (await waitForWatcherPod(cp)).metadata?.name as string;
    // the new watcher handles the `observe` that exists: the same four values, nothing lost
    await observedByPod(cp, pod, appliedAt);
    expect((await getStore(cp))?.data).toEqual(EXPECTED_DATA);
  });

  it("kubectl delete -f deletes the pepr-system Namespace and with it every PeprStore; the CRD stays", async () => {
    const result = await run(commands.inline("kubectl delete -f")[0]);
    expect([result.code, result.stderr]).toEqual([0, ""]);
    await waitFor(
      `namespace ${STORE_NAMESPACE} to be gone`,
      async () => ((await readObject(cp, namespaceObject(STORE_NAMESPACE))) ? undefined : true),
      120_000,
    );
    expect(await stores()).toEqual([]);
    expect(await manifestObjects()).toEqual([]);
    const crd = await readObject(cp, crdObject(PEPR_STORE_RESOURCE));
    expect(crd?.metadata?.name).toBe(PEPR_STORE_RESOURCE);
  });
});
