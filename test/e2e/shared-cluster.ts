// The e2e tier's one control plane (test/shared-cluster/global-setup.ts starts it for the whole
// run), and the clean slate each file starts from on it: what earlier files created is deleted
// and checked gone before the file begins. Files that stop, restart or break a control plane, or
// need one the tier's set-up would not give, start their own with startControlPlane().
import {
  ControlPlane,
  ControlPlaneError,
  kubectl,
  MODULE_NAMESPACE,
  prepareCluster,
  waitFor,
} from "../../cluster";
import { PEPR_STORE_RESOURCE, STORE_NAMESPACE } from "../../store/contract";
import { sharedCluster } from "../shared-cluster/state";

/** The namespaces kube-apiserver creates itself: kept. */
const SYSTEM_NAMESPACES = ["default", "kube-node-lease", "kube-public", "kube-system"];
/** The label of the RBAC objects kube-apiserver bootstraps: those are kept. */
const BOOTSTRAP_LABEL = "kubernetes.io/bootstrapping";
/** Deadline for what was deleted to be gone (the namespace controller empties namespaces). */
const CLEAN_TIMEOUT_MS = 120_000;

/**
 * The tier's shared control plane. Its stop() and API server switch reject: globalTeardown stops
 * it, and a test that stops kube-apiserver must do it on a control plane of its own.
 */
export function sharedControlPlane(): ControlPlane {
  const state = sharedCluster();
  const notHere = (what: string) => () =>
    Promise.reject(
      new ControlPlaneError(
        `${what}: not on the e2e tier's shared control plane (start one of your own)`,
      ),
    );
  return {
    ...state,
    stopAPIServer: notHere("stopAPIServer"),
    startAPIServer: notHere("startAPIServer"),
    stop: notHere("stop"),
  };
}

/**
 * What earlier files may have left on the shared control plane, as `kind/name` for kubectl:
 * every namespace but kube-apiserver's own (so pepr-system with the PeprStores, the module's
 * namespace and its ConfigMaps), every CRD but the PeprStore one, ClusterRoles and
 * ClusterRoleBindings that kube-apiserver did not bootstrap, and ServiceAccounts, Roles and
 * RoleBindings in `default` but its own ServiceAccount. The PeprStore CRD only `withStoreCRD`.
 */
async function leftovers(
  cp: ControlPlane,
  withStoreCRD: boolean,
): Promise<{ cluster: string[]; inDefault: string[] }> {
  const names = async (args: string[]) =>
    (await kubectl(cp, ["get", ...args, "-o", "name"])).split("\n").filter(l => l !== "");
  const [namespaces, crds, rbac, inDefault] = await Promise.all([
    names(["namespaces"]),
    names(["customresourcedefinitions"]),
    names(["clusterroles,clusterrolebindings", "-l", `!${BOOTSTRAP_LABEL}`]),
    names(["serviceaccounts,roles,rolebindings", "-n", "default"]),
  ]);
  return {
    cluster: [
      ...namespaces.filter(n => !SYSTEM_NAMESPACES.map(s => `namespace/${s}`).includes(n)),
      ...crds.filter(n => withStoreCRD || !n.endsWith(`/${PEPR_STORE_RESOURCE}`)),
      ...rbac,
    ],
    inDefault: inDefault.filter(n => n !== "serviceaccount/default"),
  };
}

/**
 * Resets the shared control plane for a new file: deletes {@link leftovers}, waits until they
 * are gone, then creates pepr-system and (if missing) the PeprStore CRD again. So the file starts
 * without the module's namespace and without any PeprStore.
 *
 * @param bare - also delete the PeprStore CRD and leave pepr-system out: a cluster on which
 *   nothing of Pepr's was ever installed (the next file's clean installs both again)
 * @returns the shared control plane
 * @throws when something is still there after the deadline
 */
export async function cleanSharedCluster({ bare = false } = {}): Promise<ControlPlane> {
  const cp = sharedControlPlane();
  if (!cp.local) {
    // It deletes every namespace but kube-apiserver's own: never on a cluster that is not ours.
    throw new ControlPlaneError("the e2e tier cleans only its own local control plane");
  }
  const found = await leftovers(cp, bare);
  if (found.cluster.length > 0) await kubectl(cp, ["delete", "--wait=false", ...found.cluster]);
  if (found.inDefault.length > 0)
    await kubectl(cp, ["delete", "-n", "default", "--wait=false", ...found.inDefault]);
  await waitFor(
    "what earlier e2e files left on the shared control plane to be gone",
    async () => {
      const left = await leftovers(cp, bare);
      return left.cluster.length + left.inDefault.length === 0 ? true : undefined;
    },
    CLEAN_TIMEOUT_MS,
    500,
  );
  if (!bare) await prepareCluster(cp);
  const namespaces = (await kubectl(cp, ["get", "namespaces", "-o", "name"])).split("\n");
  if (namespaces.includes(`namespace/${MODULE_NAMESPACE}`))
    throw new Error(`namespace ${MODULE_NAMESPACE} is still there`);
  if (!bare) {
    const stores = await kubectl(cp, ["get", "peprstores", "-n", STORE_NAMESPACE, "-o", "name"]);
    if (stores !== "") throw new Error(`PeprStores are still there: ${stores}`);
  }
  return cp;
}
