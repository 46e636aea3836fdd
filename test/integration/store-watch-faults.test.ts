// store/read.ts watchStore when the cluster fails under a running watch, on the tier's second
// control plane (./start.ts), which these tests stop, restart and break: the API server stopped
// and started again, RBAC revoked, the ServiceAccount deleted, the CRD deleted. A watch sees a
// revoked right only when it reconnects: the tests make it reconnect by changing the CRD's spec
// (the API server then rebuilds the CRD's storage and ends its watches).
import type { KubernetesObject } from "@kubernetes/client-node";

import {
  applyObject,
  crdObject,
  deleteObject,
  ensureNamespace,
  mergePatchObject,
  patchStore,
  peprStoreObject,
  waitForCrdEstablished,
} from "../../cluster/kube";
import { switchAPIServer } from "../../cluster/controlplane";
import { waitFor } from "../../cluster/wait";
import {
  ApiError,
  ClusterUnreachableError,
  CrdNotInstalledError,
  PermissionDeniedError,
  StoreNotFoundError,
  UnauthorizedError,
} from "../../store/errors";
import { StoreChangeEvent, readStore, watchStore } from "../../store/read";
import { FaultCluster, faultCluster, kubeconfigAllowedTo, uniqueName } from "./cluster";

const CAP = "cap";
const CRD = "peprstores.pepr.dev";
const faults = faultCluster();
const describeFaults = faults ? describe : describe.skip;
if (!faults) process.stderr.write("store-watch-faults: skipped on an existing cluster\n");
const cluster = faults as FaultCluster;

/** What `promise` rejected with (fails the test if it resolved). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

/** A store `pepr-<uuid>-store` with `data` in a namespace of its own on the fault cluster. */
async function faultStore(data: Record<string, string>) {
  const namespace = uniqueName("fault");
  await ensureNamespace(cluster, namespace);
  const uuid = uniqueName("u");
  const name = `pepr-${uuid}-store`;
  await applyObject(cluster, { ...peprStoreObject(name, namespace), data });
  return { namespace, uuid, name, options: { namespace, uuid, capabilities: [CAP] } };
}

/** Changes the CRD's spec: the API server rebuilds its storage and ends every watch on it. */
async function endWatches(): Promise<void> {
  const patch = { spec: { names: { categories: [uniqueName("cut")] } } };
  // a merge patch, not an apply: an apply of this part alone would drop the fields this field
  // manager applied before (the whole CRD)
  await mergePatchObject(cluster, crdObject(CRD), patch);
}

/** The change events without their time and resourceVersion. */
const withoutTimes = (changes: StoreChangeEvent[]) =>
  changes.map(c =>
    Object.fromEntries(Object.entries(c).filter(([k]) => k !== "time" && k !== "resourceVersion")),
  );

describeFaults("watchStore when the cluster fails under it", () => {
  beforeEach(async () => {
    // a test that failed half-way may have left the API server stopped or the CRD deleted
    await switchAPIServer(cluster, "start");
    await applyObject(cluster, cluster.crd as KubernetesObject);
    await waitForCrdEstablished(cluster, CRD, 30_000);
    // served once a request of kubernetes-fluent-client (which does not retry a 429) is answered
    await waitFor(`${CRD} to be served`, async () =>
      (await rejection(readStore({ kubeconfig: cluster.kubeconfig, uuid: "none" }))) instanceof
      StoreNotFoundError
        ? true
        : undefined,
    );
  });

  it("warns while the API server is down, reconnects and reports what changed", async () => {
    const { name, namespace, options } = await faultStore({ "cap-v2-a": "1" });
    const warnings: Error[] = [];
    const changes: StoreChangeEvent[] = [];
    const watch = await watchStore(
      { ...options, kubeconfig: cluster.kubeconfig, onWarning: w => warnings.push(w) },
      c => changes.push(c),
    );
    const port = new URL(cluster.server).port;
    const refused = `connect ECONNREFUSED 127.0.0.1:${port}`;
    const listRefused = `list of PeprStore ${name} at ${cluster.server} failed (${refused}), retrying`;
    const watchLost = `watch of PeprStore ${name}: connection to ${cluster.server} lost (${refused}), retrying`;
    try {
      await switchAPIServer(cluster, "stop");
      try {
        await waitFor("the list and the watch to be refused", () => {
          const messages = warnings.map(w => w.message);
          return messages.includes(listRefused) && messages.includes(watchLost) ? true : undefined;
        });
      } finally {
        await switchAPIServer(cluster, "start");
      }
      await patchStore(cluster, { name, namespace }, { data: { "cap-v2-b": "2" } }, "merge");
      await waitFor("the change after the restart", () => (changes.length >= 2 ? true : undefined));
      expect(withoutTimes(changes)).toEqual([
        { type: "added", capability: CAP, key: "a", value: "1", unmigrated: false },
        { type: "added", capability: CAP, key: "b", value: "2", unmigrated: false },
      ]);
    } finally {
      watch.stop();
    }
    await expect(watch.done).resolves.toBeUndefined();

    const listWarning = warnings.find(w => w.message === listRefused);
    expect(listWarning).toBeInstanceOf(ApiError);
    expect(listWarning).toMatchObject({ code: "API_ERROR", status: undefined });
    expect((listWarning as Error).cause).toMatchObject({ message: "fetch failed" });
    const watchWarning = warnings.find(w => w.message === watchLost);
    expect(watchWarning).toBeInstanceOf(ClusterUnreachableError);
    expect(watchWarning).toMatchObject({ server: cluster.server });
    expect((watchWarning as Error).cause).toMatchObject({ message: "fetch failed" });
    // Besides those two: the watch stream's end, and the API server starting up (HTTP 503)
    const server = cluster.server.replace(/[.]/g, "\\.");
    for (const w of warnings) {
      expect(w.message).toMatch(
        new RegExp(
          `^(list of PeprStore ${name} at ${server} failed \\(.+\\)|watch of PeprStore ${name}: connection to ${server} lost \\(.+\\)), retrying$`,
        ),
      );
    }
  });

  it("stops with PermissionDeniedError when its rights are revoked and it reconnects", async () => {
    const { namespace, options } = await faultStore({ "cap-v2-a": "1" });
    const sa = await kubeconfigAllowedTo(["get", "list", "watch"], namespace, cluster);
    const before = process.env.KUBECONFIG;
    try {
      const saOptions = { ...options, kubeconfig: sa.file };
      await waitFor("the role to apply", () => readStore(saOptions));
      const warnings: Error[] = [];
      const watch = await watchStore({ ...saOptions, onWarning: w => warnings.push(w) }, () => {});
      await deleteObject(cluster, {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: sa.user, namespace },
      });
      await waitFor("the rights to be gone", async () =>
        (await rejection(readStore(saOptions))) instanceof PermissionDeniedError ? true : undefined,
      );
      await endWatches();
      const err = await rejection(watch.done);
      expect(err).toBeInstanceOf(PermissionDeniedError);
      expect(err).toMatchObject({
        verb: "list",
        resource: CRD,
        namespace,
        message: `permission denied: cannot list ${CRD} in namespace ${namespace} (context "c")`,
      });
      expect(process.env.KUBECONFIG).toBe(before);
      expectOnlyRebuildWarnings(warnings);
    } finally {
      sa.remove();
    }
  });

  it("stops with UnauthorizedError when its ServiceAccount is deleted and it reconnects", async () => {
    const { namespace, options } = await faultStore({ "cap-v2-a": "1" });
    const sa = await kubeconfigAllowedTo(["get", "list", "watch"], namespace, cluster);
    try {
      const saOptions = { ...options, kubeconfig: sa.file };
      await waitFor("the role to apply", () => readStore(saOptions));
      const warnings: Error[] = [];
      const watch = await watchStore({ ...saOptions, onWarning: w => warnings.push(w) }, () => {});
      await deleteObject(cluster, {
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: { name: sa.user, namespace: "default" },
      });
      await waitFor("the token to be refused", async () =>
        (await rejection(readStore(saOptions))) instanceof UnauthorizedError ? true : undefined,
      );
      await endWatches();
      const err = await rejection(watch.done);
      expect(err).toBeInstanceOf(UnauthorizedError);
      expect((err as Error).message).toBe(
        `unauthorized: ${cluster.server} did not accept the credentials of context "c" (${sa.file}) to list ${CRD} in namespace ${namespace}`,
      );
      expectOnlyRebuildWarnings(warnings);
    } finally {
      sa.remove();
    }
  });

  it("reports the keys removed and stops with CrdNotInstalledError when the CRD is deleted", async () => {
    const { name, namespace, options } = await faultStore({ "cap-v2-a": "1" });
    // may get but not list: with the CRD gone, its get is a plain-text 404 and its list a 403
    const sa = await kubeconfigAllowedTo(["get"], namespace, cluster);
    try {
      await waitFor("the role to apply", () => readStore({ ...options, kubeconfig: sa.file }));
      const changes: StoreChangeEvent[] = [];
      const watch = await watchStore({ ...options, kubeconfig: cluster.kubeconfig }, c =>
        changes.push(c),
      );
      await deleteObject(cluster, crdObject(CRD));
      const missing =
        `PeprStore ${name}: the CRD ${CRD} is not installed (${cluster.server} does not serve ` +
        "pepr.dev/v1 peprstores; the Pepr watcher and `npx pepr deploy` install it)";
      const err = await rejection(watch.done);
      expect(err).toBeInstanceOf(CrdNotInstalledError);
      expect((err as Error).message).toBe(missing);
      expect((err as Error).cause).toMatchObject({
        message: expect.stringMatching(/^watch failed: 404 Not Found /),
      });
      expect(withoutTimes(changes)).toEqual([
        { type: "added", capability: CAP, key: "a", value: "1", unmigrated: false },
        { type: "removed", capability: CAP, key: "a", previous: "1", unmigrated: false },
      ]);

      const read = await rejection(readStore({ ...options, kubeconfig: cluster.kubeconfig }));
      expect(read).toBeInstanceOf(CrdNotInstalledError);
      expect((read as Error).message).toBe(missing);
      // the cause is the list's 404, in plain text: the API server does not know the resource
      expect((read as Error).cause).toMatchObject({ status: 404, data: "404 page not found\n" });
      const denied = await rejection(readStore({ ...options, kubeconfig: sa.file }));
      expect(denied).toBeInstanceOf(PermissionDeniedError);
      expect(denied).toMatchObject({ verb: "list", namespace });
    } finally {
      sa.remove();
    }
  });
});

/**
 * The only warnings a watch may give while the CRD's storage is rebuilt: a 429 from the API
 * server ("storage is (re)initializing"), which kubernetes-fluent-client retries.
 */
function expectOnlyRebuildWarnings(warnings: Error[]): void {
  for (const w of warnings) {
    expect(w).toBeInstanceOf(ApiError);
    expect(w).toMatchObject({ status: 429 });
    expect(w.message).toMatch(
      /^list of PeprStore \S+ at \S+ failed \(HTTP 429 Too Many Requests\), retrying$/,
    );
  }
}
