// What the in-cluster deploy tests share: one cluster with a node and the controller image loaded
// per test file (useNodeCluster), the module deployed afresh on it per describe with
// `npx pepr deploy --yes` (useDeployment), the watcher pod's logs followed, and the checks on
// what the watcher did.
import {
  auditLog,
  ControlPlane,
  deleteObject,
  DeployResult,
  deployWatcher,
  followWatcherLogs,
  loadControllerImage,
  MODULE_NAMESPACE,
  ModuleProcess,
  namespaceObject,
  ObjectHeader,
  readObject,
  startControlPlane,
  waitFor,
} from "../../../cluster";
import { watcherServiceAccount } from "../../../cluster/pepr-deploy";
import { STORE_NAMESPACE } from "../../../store/contract";
import { OBSERVED_TIMEOUT_MS, report } from "../scenario";

/** Image build (cold: about a minute), node start, two `pepr deploy` runs and their rollouts. */
export const SUITE_TIMEOUT_MS = 900_000;
/** The user the watcher pod's requests carry in the audit log. */
export const SERVICE_ACCOUNT_USER = `system:serviceaccount:${STORE_NAMESPACE}:${watcherServiceAccount()}`;
/** Deadline for an earlier deployment's namespaces (and so its pods) to be gone. */
const REMOVE_TIMEOUT_MS = 180_000;

/** The header of the watcher pod `name`, to read or delete it. */
export function watcherPodObject(name: string): ObjectHeader {
  return { apiVersion: "v1", kind: "Pod", metadata: { name, namespace: STORE_NAMESPACE } };
}

/** The cluster of a test file; `cp` is set once its beforeAll has run. */
export interface NodeCluster {
  cp: ControlPlane;
}

/** The module deployed for a describe; its fields are set once its beforeAll has run. */
export interface Deployed {
  cp: ControlPlane;
  /** The Ready watcher pod right after the deploy. */
  pod: string;
  /** That pod's logs, followed from its start. */
  logs: ModuleProcess;
  /** When the deploy started: the audit checks look at what came after. */
  deployedAt: number;
}

/**
 * Starts one cluster with a node and loads the controller image into it, for the whole test file
 * (beforeAll/afterAll of the scope it is called in): a node start and an image import each time
 * would add ~10 s to every describe, and the node is one per machine.
 */
export function useNodeCluster(): NodeCluster {
  const cluster = {} as NodeCluster;
  beforeAll(async () => {
    const cp = await startControlPlane({ node: true });
    try {
      const image = await loadControllerImage(cp, { onProgress: () => undefined });
      report(`ctr images import of ${image.name}`, image.loadSeconds * 1000);
    } catch (err) {
      await cp.stop();
      throw err;
    }
    cluster.cp = cp;
  }, SUITE_TIMEOUT_MS);
  afterAll(async () => {
    await cluster.cp?.stop();
  });
  return cluster;
}

/**
 * Deletes what an earlier deploy made that a later one could see, and waits until it is gone:
 * the `pepr-system` namespace (the watcher's pods, Secrets, the PeprStores) and the module's
 * namespace (`observe`). What stays, the cluster-scoped ClusterRole, its binding and the
 * PeprStore CRD, `pepr deploy` applies again unchanged.
 */
async function removeDeployment(cp: ControlPlane): Promise<void> {
  const namespaces = [STORE_NAMESPACE, MODULE_NAMESPACE].map(namespaceObject);
  await Promise.all(namespaces.map(n => deleteObject(cp, n)));
  await waitFor(
    `namespaces ${STORE_NAMESPACE}, ${MODULE_NAMESPACE} (and their pods) to be gone`,
    async () => {
      const left = await Promise.all(namespaces.map(n => readObject(cp, n)));
      return left.every(n => n === undefined) ? true : undefined;
    },
    REMOVE_TIMEOUT_MS,
    500,
  );
}

/**
 * The module deployed afresh on the file's cluster for the describe it is called in: an earlier
 * describe's deployment removed, `before` run, `npx pepr deploy --yes`, the Ready watcher pod's
 * logs followed (stopped in afterAll).
 */
export function useDeployment(
  cluster: NodeCluster,
  before?: (cp: ControlPlane) => Promise<void>,
): Deployed {
  const d = {} as Deployed;
  beforeAll(async () => {
    const { cp } = cluster;
    const removing = Date.now();
    await removeDeployment(cp);
    report("earlier deployment's namespaces deleted and gone", Date.now() - removing);
    await before?.(cp);
    const deployedAt = Date.now();
    const watcher = await deployWatcher(cp, { mode: "deployed" });
    const deployed = (await watcher.deploying) as DeployResult;
    report("npx pepr deploy --yes (build, apply, rollout)", deployed.seconds * 1000);
    Object.assign(d, { cp, pod: watcher.pod, deployedAt, logs: watcher.logs });
  }, SUITE_TIMEOUT_MS);
  afterAll(async () => {
    await d.logs?.stop();
  });
  return d;
}

/** Waits for an `observed` record logged at or after `sinceMs` in followed pod logs. */
export function waitForObservedIn(logs: ModuleProcess, sinceMs: number) {
  return logs.waitForLog(
    `"observed" in kubectl logs`,
    r => r.msg === "observed" && r.time >= sinceMs,
    OBSERVED_TIMEOUT_MS,
  );
}

/** Audit events of the watcher's ServiceAccount answered 403 (denied by RBAC) since the deploy. */
export function deniedForWatcher(d: Pick<Deployed, "cp" | "deployedAt">) {
  return auditLog(d.cp).completed(
    e =>
      e.user.username === SERVICE_ACCOUNT_USER &&
      e.responseStatus?.code === 403 &&
      Date.parse(e.stageTimestamp) >= d.deployedAt,
  );
}

/** Follows the pod's current container's logs until it logs `observed` at or after `sinceMs`. */
export async function observedByPod(cp: ControlPlane, pod: string, sinceMs: number) {
  const logs = followWatcherLogs(cp, pod);
  try {
    return await waitForObservedIn(logs, sinceMs);
  } finally {
    await logs.stop();
  }
}
