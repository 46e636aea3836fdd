// The e2e tier's one control plane (test/shared-cluster/global-setup.ts starts it for the whole
// run), and the clean slate each file starts from on it: what earlier files created is deleted
// and checked gone before the file begins. Files that stop, restart or break a control plane, or
// need one the tier's set-up would not give, start their own with startControlPlane().
import { ApisApi, CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";

import {
  ControlPlane,
  ControlPlaneError,
  deleteObject,
  MODULE_NAMESPACE,
  ObjectHeader,
  objectApi,
  prepareCluster,
  seconds,
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

/** The namespaces every file uses: emptied rather than deleted (the namespace controller is slow). */
const FILE_NAMESPACES = [STORE_NAMESPACE, MODULE_NAMESPACE];
/** What the controllers put into every namespace (`Kind/name`): kept. */
const NAMESPACE_DEFAULTS = ["ServiceAccount/default", "ConfigMap/kube-root-ca.crt"];
/** Events (core and events.k8s.io), which deleting makes: no state of a file's, kept. */
const NOT_STATE = ["events"];
const RBAC = "rbac.authorization.k8s.io/v1";

/** A kind of object, as the API server serves it. */
interface Kind {
  apiVersion: string;
  kind: string;
}

/** An object to delete: its header, and whether it is being deleted already (only waited for). */
interface Leftover {
  object: ObjectHeader;
  deleting: boolean;
}

/**
 * Every namespaced kind that can be listed and deleted, in its group's preferred version, as
 * `kubectl api-resources --namespaced --verbs=list,delete` finds them (the API server's discovery:
 * the core group, then each group's resource list), but {@link NOT_STATE}.
 */
async function namespacedKinds(cp: ControlPlane): Promise<Kind[]> {
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const { groups } = await kc.makeApiClient(ApisApi).getAPIVersions();
  const lists = await Promise.all([
    kc.makeApiClient(CoreV1Api).getAPIResources(),
    ...groups.flatMap(g =>
      g.preferredVersion
        ? [custom.getAPIResources({ group: g.name, version: g.preferredVersion.version })]
        : [],
    ),
  ]);
  return lists.flatMap(list =>
    list.resources
      .filter(r => r.namespaced && !r.name.includes("/") && !NOT_STATE.includes(r.name))
      .filter(r => r.verbs.includes("list") && r.verbs.includes("delete"))
      .map(r => ({ apiVersion: list.groupVersion, kind: r.kind })),
  );
}

/** Every object of `kind` (in `namespace`, with `labelSelector`), as a {@link Leftover}. */
async function listed(
  cp: ControlPlane,
  { apiVersion, kind }: Kind,
  options: { namespace?: string; labelSelector?: string } = {},
): Promise<Leftover[]> {
  // list(apiVersion, kind, namespace, pretty, exact, exportt, fieldSelector, labelSelector)
  const { items } = await objectApi(cp).list(
    apiVersion,
    kind,
    options.namespace,
    undefined,
    undefined,
    undefined,
    undefined,
    options.labelSelector,
  );
  return items.map(({ metadata }) => ({
    object: {
      apiVersion,
      kind,
      metadata: { name: metadata?.name ?? "", namespace: metadata?.namespace },
    },
    deleting: metadata?.deletionTimestamp !== undefined,
  }));
}

/**
 * What earlier files may have left on the shared control plane: every namespace but
 * kube-apiserver's own and {@link FILE_NAMESPACES} (and those too when `bare`); every object in
 * {@link FILE_NAMESPACES} but {@link NAMESPACE_DEFAULTS} (so the PeprStores and the module's
 * ConfigMaps); every CRD but the PeprStore one (that one too when `bare`); ClusterRoles and
 * ClusterRoleBindings that kube-apiserver did not bootstrap; and ServiceAccounts, Roles and
 * RoleBindings in `default` but its own ServiceAccount. A namespace or CRD being deleted is left
 * over until it is gone.
 */
async function leftovers(cp: ControlPlane, bare: boolean): Promise<Leftover[]> {
  const kept = [...SYSTEM_NAMESPACES, ...(bare ? [] : FILE_NAMESPACES)];
  // bare: the file namespaces go whole, and what is in them with them
  const kinds = bare ? [] : await namespacedKinds(cp);
  const inFileNamespaces = FILE_NAMESPACES.flatMap(namespace =>
    kinds.map(async kind =>
      (await listed(cp, kind, { namespace })).filter(
        ({ object }) => !NAMESPACE_DEFAULTS.includes(`${object.kind}/${object.metadata.name}`),
      ),
    ),
  );
  const notBootstrapped = { labelSelector: `!${BOOTSTRAP_LABEL}` };
  const inDefault = { namespace: "default" };
  const found = await Promise.all([
    listed(cp, { apiVersion: "v1", kind: "Namespace" }).then(namespaces =>
      namespaces.filter(n => n.deleting || !kept.includes(n.object.metadata.name)),
    ),
    listed(cp, { apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition" }).then(
      crds =>
        crds.filter(c => c.deleting || bare || c.object.metadata.name !== PEPR_STORE_RESOURCE),
    ),
    listed(cp, { apiVersion: RBAC, kind: "ClusterRole" }, notBootstrapped),
    listed(cp, { apiVersion: RBAC, kind: "ClusterRoleBinding" }, notBootstrapped),
    listed(cp, { apiVersion: "v1", kind: "ServiceAccount" }, inDefault).then(accounts =>
      accounts.filter(a => a.object.metadata.name !== "default"),
    ),
    listed(cp, { apiVersion: RBAC, kind: "Role" }, inDefault),
    listed(cp, { apiVersion: RBAC, kind: "RoleBinding" }, inDefault),
    ...inFileNamespaces,
  ]);
  return found.flat();
}

/**
 * Resets the shared control plane for a new file: deletes {@link leftovers} until none is left
 * (a deleted Deployment's ReplicaSet may make one more Pod), then creates pepr-system and the
 * PeprStore CRD if they are missing. So the file starts with an empty module namespace and
 * without any PeprStore.
 *
 * @param bare - also delete pepr-system, the module's namespace and the PeprStore CRD, and leave
 *   them out: a cluster on which nothing of Pepr's was ever installed (the next clean installs
 *   them again)
 * @returns the shared control plane
 * @throws when something is still there after the deadline
 */
export async function cleanSharedCluster({ bare = false } = {}): Promise<ControlPlane> {
  const cp = sharedControlPlane();
  if (!cp.local) {
    // It deletes every namespace but kube-apiserver's own: never on a cluster that is not ours.
    throw new ControlPlaneError("the e2e tier cleans only its own local control plane");
  }
  const started = Date.now();
  await waitFor(
    "what earlier e2e files left on the shared control plane to be gone",
    async () => {
      const found = await leftovers(cp, bare);
      // what is being deleted already is only waited for: deleting a namespace again is a 409
      const toDelete = found.filter(l => !l.deleting).map(l => l.object);
      await Promise.all(toDelete.map(object => deleteObject(cp, object)));
      return found.length === 0 ? true : undefined;
    },
    CLEAN_TIMEOUT_MS,
    200,
  );
  if (!bare) await prepareCluster(cp);
  process.stderr.write(`timing: shared control plane cleaned: ${seconds(started)}s\n`);
  return cp;
}
