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
/** What the controllers put into every namespace, and events (which deleting makes): kept. */
const NAMESPACE_DEFAULTS = ["serviceaccount/default", "configmap/kube-root-ca.crt"];
const NOT_STATE = ["events", "events.events.k8s.io"];

/** Objects to delete, as kubectl names them: `kind/name`, and `-n namespace` for namespaced ones. */
type Leftovers = { namespace?: string; names: string[] }[];

/** `kubectl get <args> -o name`, one name a line. */
async function names(cp: ControlPlane, args: string[]): Promise<string[]> {
  return (await kubectl(cp, ["get", ...args, "-o", "name"])).split("\n").filter(l => l !== "");
}

/**
 * `kind/name` of every `resource` (cluster-scoped) and whether it is being deleted: a namespace
 * or CRD being deleted cannot be used, only waited for.
 */
async function withDeletion(
  cp: ControlPlane,
  resource: string,
): Promise<{ name: string; deleting: boolean }[]> {
  const jsonpath =
    '{range .items[*]}{.kind}/{.metadata.name} {.metadata.deletionTimestamp}{"\\n"}{end}';
  const out = await kubectl(cp, ["get", resource, "-o", `jsonpath=${jsonpath}`]);
  return out
    .split("\n")
    .filter(l => l !== "")
    .map(line => {
      const [kindName, deletedAt = ""] = line.split(" ");
      return { name: kindName.toLowerCase(), deleting: deletedAt !== "" };
    });
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
async function leftovers(cp: ControlPlane, bare: boolean): Promise<Leftovers> {
  const kept = [...SYSTEM_NAMESPACES, ...(bare ? [] : FILE_NAMESPACES)];
  const kinds = (
    await kubectl(cp, ["api-resources", "--namespaced", "--verbs=list,delete", "-o", "name"])
  )
    .split("\n")
    .filter(k => k !== "" && !NOT_STATE.includes(k))
    .join(",");
  const [namespaces, crds, rbac, inDefault, ...inFileNamespaces] = await Promise.all([
    withDeletion(cp, "namespaces"),
    withDeletion(cp, "customresourcedefinitions"),
    names(cp, ["clusterroles,clusterrolebindings", "-l", `!${BOOTSTRAP_LABEL}`]),
    names(cp, ["serviceaccounts,roles,rolebindings", "-n", "default"]),
    ...(bare ? [] : FILE_NAMESPACES.map(ns => names(cp, [kinds, "-n", ns]))),
  ]);
  return [
    {
      names: [
        ...namespaces
          .filter(n => n.deleting || !kept.map(k => `namespace/${k}`).includes(n.name))
          .map(n => n.name),
        ...crds
          .filter(n => n.deleting || bare || !n.name.endsWith(`/${PEPR_STORE_RESOURCE}`))
          .map(n => n.name),
        ...rbac,
      ],
    },
    { namespace: "default", names: inDefault.filter(n => n !== "serviceaccount/default") },
    ...inFileNamespaces.map((found, i) => ({
      namespace: FILE_NAMESPACES[i],
      names: found.filter(n => !NAMESPACE_DEFAULTS.includes(n)),
    })),
  ].filter(l => l.names.length > 0);
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
      for (const { namespace, names: objects } of found) {
        const ns = namespace ? ["-n", namespace] : [];
        await kubectl(cp, ["delete", ...ns, "--wait=false", "--ignore-not-found", ...objects]);
      }
      return found.length === 0 ? true : undefined;
    },
    CLEAN_TIMEOUT_MS,
    200,
  );
  if (!bare) await prepareCluster(cp);
  process.stderr.write(`timing: shared control plane cleaned: ${seconds(started)}s\n`);
  return cp;
}
