// The deploy manifest `npx pepr build` writes is accepted by a real API server, and what removing
// it does to the PeprStores (README.md, "Remove the module").
import { spawnSync } from "node:child_process";
import path from "node:path";

import {
  applyObject,
  buildModule,
  ControlPlane,
  createObject,
  crdObject,
  getStore,
  kubectl,
  kubectlRun,
  ObjectHeader,
  prepareCluster,
  readObject,
  repoRoot,
  waitFor,
} from "../../cluster";
import { PEPR_STORE_RESOURCE, PLACEHOLDER, STORE_NAMESPACE, storeName } from "../../store/contract";
import { existingManifestObjects, manifestObjects } from "./manifest-objects";
import { readmeSection } from "./readme";
import { cleanSharedCluster } from "./shared-cluster";

/**
 * README.md's command that removes the module but keeps its data: every object of the manifest
 * except the pepr-system Namespace (run from the repository root), read from the README: the
 * second block of its deploy section (in-cluster/readme-deploy.test.ts checks the blocks).
 */
const REMOVE_KEEPING_DATA = readmeSection("Deploy on your own cluster").blocks[1][0];
/** Where `kubectl apply` keeps what it applied, to compute its next patch. */
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

describe("dist/pepr-module-<uuid>.yaml", () => {
  let cp: ControlPlane;
  let manifest: string;
  let docs: ObjectHeader[];

  beforeAll(async () => {
    manifest = buildModule().manifest;
    docs = manifestObjects(manifest);
    cp = await cleanSharedCluster();
    // The manifest's namespaced objects need pepr-system to exist for a dry run: the manifest's
    // own Namespace as `kubectl apply` leaves it (with its last-applied annotation, or the dry
    // run's kubectl apply warns that it is missing), then the PeprStore CRD as `pepr deploy` does.
    const namespace = docs.find(d => d.kind === "Namespace");
    if (!namespace) throw new Error(`${manifest}: no Namespace`);
    const annotations = { [LAST_APPLIED]: `${JSON.stringify(namespace)}\n` };
    await applyObject(cp, { ...namespace, metadata: { ...namespace.metadata, annotations } });
    await prepareCluster(cp);
  });

  it("passes a server-side dry run of every object", async () => {
    // `kubectl apply -f dist/pepr-module-*.yaml`, the user's command (README), as a dry run
    const result = await kubectlRun(cp, [
      "apply",
      "--dry-run=server",
      "-f",
      manifest,
      "-o",
      "name",
    ]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const applied = result.stdout
      .trim()
      .split("\n")
      .map(l => l.split("/").pop())
      .sort();
    expect(applied).toEqual(docs.map(d => d.metadata.name).sort());
    expect(docs.map(d => d.kind).sort()).toEqual([
      "ClusterRole",
      "ClusterRoleBinding",
      "Deployment",
      "Namespace",
      "Role",
      "RoleBinding",
      "Secret",
      "Secret",
      "Secret",
      "Service",
      "ServiceAccount",
    ]);
  });
});

describe("removing the module", () => {
  let cp: ControlPlane;
  let manifest: string;
  /** Runs a shell command line from the repository root with the control plane's kubectl. */
  const shell = (line: string) =>
    spawnSync("bash", ["-o", "pipefail", "-c", line], {
      cwd: repoRoot(),
      encoding: "utf8",
      env: {
        ...process.env,
        KUBECONFIG: cp.kubeconfig,
        KUBECACHEDIR: path.join(cp.local?.dataDir ?? "", "kubectl-cache"),
        KUBERC: "off",
        PATH: `${path.dirname(cp.kubectl)}${path.delimiter}${process.env.PATH}`,
      },
    });
  const store = {
    apiVersion: "pepr.dev/v1",
    kind: "PeprStore",
    metadata: { name: storeName(), namespace: STORE_NAMESPACE },
    data: { ...PLACEHOLDER, "hello-pepr-store-resources-v2-a": "1" },
  };

  beforeEach(async () => {
    manifest = buildModule().manifest;
    cp = await cleanSharedCluster();
    await kubectl(cp, ["apply", "-f", manifest]); // the user's command (README)
    await prepareCluster(cp);
    await createObject(cp, store);
  });

  it("with README's command removes every object but the Namespace and keeps the PeprStore", async () => {
    const result = shell(REMOVE_KEEPING_DATA);
    // the ClusterRole and ClusterRoleBinding are meant: kubectl only notes that -n does not apply
    expect(result.stderr).toBe(
      "Warning: deleting cluster-scoped resources, not scoped to the provided namespace\n",
    );
    expect(result.status).toBe(0);
    expect(await existingManifestObjects(cp, manifest)).toEqual(["Namespace/pepr-system"]);
    expect((await getStore(cp))?.data).toEqual(store.data);
  });

  it("with kubectl delete -f deletes the pepr-system Namespace and so the PeprStore", async () => {
    expect(shell(`kubectl delete -f ${manifest} --wait=false`).status).toBe(0);
    await waitFor(
      `PeprStore ${storeName()} to be deleted with its namespace`,
      async () => ((await getStore(cp)) === undefined ? true : undefined),
      120_000,
    );
    const crd = await readObject(cp, crdObject(PEPR_STORE_RESOURCE));
    expect(crd?.metadata?.name).toBe(PEPR_STORE_RESOURCE);
  });
});
