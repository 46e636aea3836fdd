// The deploy manifest `npx pepr build` writes is accepted by a real API server, and what removing
// it does to the PeprStores (README.md, "Remove the module").
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";

import {
  buildModule,
  ControlPlane,
  createObject,
  getStore,
  kubectl,
  kubectlRun,
  prepareCluster,
  repoRoot,
  waitFor,
} from "../../cluster";
import { PEPR_STORE_RESOURCE, PLACEHOLDER, STORE_NAMESPACE, storeName } from "../../store/contract";
import { readmeSection } from "./readme";
import { cleanSharedCluster } from "./shared-cluster";

/**
 * README.md's command that removes the module but keeps its data: every object of the manifest
 * except the pepr-system Namespace (run from the repository root), read from the README: the
 * second block of its deploy section (in-cluster/readme-deploy.test.ts checks the blocks).
 */
const REMOVE_KEEPING_DATA = readmeSection("Deploy on your own cluster").blocks[1][0];

type Doc = { kind: string; metadata: { name: string } };

describe("dist/pepr-module-<uuid>.yaml", () => {
  let cp: ControlPlane;
  let manifest: string;
  let docs: Doc[];

  beforeAll(async () => {
    manifest = buildModule().manifest;
    docs = parseAllDocuments(readFileSync(manifest, "utf8"))
      .map(d => d.toJS() as Doc | null)
      .filter(d => d !== null);
    cp = await cleanSharedCluster();
    // The manifest's namespaced objects need pepr-system to exist for a dry run: apply the
    // manifest's own Namespace as `kubectl apply` would, then the PeprStore CRD as `pepr deploy` does.
    const namespace = docs.find(d => d.kind === "Namespace");
    await kubectl(cp, ["apply", "-f", "-"], { input: JSON.stringify(namespace) });
    await prepareCluster(cp);
  });

  it("passes a server-side dry run of every object", async () => {
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
  const moduleObjects = async (): Promise<string[]> =>
    (await kubectlRun(cp, ["get", "-f", manifest, "-o", "name", "--ignore-not-found"])).stdout
      .split("\n")
      .filter(line => line !== "");

  beforeEach(async () => {
    manifest = buildModule().manifest;
    cp = await cleanSharedCluster();
    await kubectl(cp, ["apply", "-f", manifest]);
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
    expect(await moduleObjects()).toEqual(["namespace/pepr-system"]);
    expect((await getStore(cp))?.data).toEqual(store.data);
  });

  it("with kubectl delete -f deletes the pepr-system Namespace and so the PeprStore", async () => {
    expect(shell(`kubectl delete -f ${manifest} --wait=false`).status).toBe(0);
    await waitFor(
      `PeprStore ${storeName()} to be deleted with its namespace`,
      async () => ((await getStore(cp)) === undefined ? true : undefined),
      120_000,
    );
    const crd = await kubectlRun(cp, ["get", "crd", PEPR_STORE_RESOURCE, "-o", "name"]);
    expect(crd.stdout).toBe(
      `customresourcedefinition.apiextensions.k8s.io/${PEPR_STORE_RESOURCE}\n`,
    );
  });
});
