// A kubeconfig that authenticates as a ServiceAccount, for tests that must reach the API server as
// someone other than the admin: the token comes from the TokenRequest API, the cluster entry (its
// server and CA) from the control plane's admin kubeconfig, and no other credential is copied.
import { CoreV1Api, KubeConfig, KubernetesObject } from "@kubernetes/client-node";

// cluster/kube.ts, not the barrel: the barrel loads Pepr's sources, whose kinds clash with those
// of the Pepr build the integration tier loads.
import { createObject } from "../../cluster/kube";
import type { ControlPlane } from "../../cluster/controlplane";
import { kubeconfigFor } from "./kubeconfig";

/** A ServiceAccount's kubeconfig file, and `remove()` to delete it. */
export interface ServiceAccountKubeconfig {
  file: string;
  /** The ServiceAccount's name (also the kubeconfig's user). */
  user: string;
  token: string;
  remove(): void;
}

/** What to ask for: where the ServiceAccount is, and the token's lifetime. */
export interface TokenOptions {
  /** Default `default`. */
  namespace?: string;
  /** `false` for a ServiceAccount that exists already (one a manifest made). */
  create?: boolean;
  /** Default the API server's (one hour). */
  expirationSeconds?: number;
}

/**
 * Creates ServiceAccount `name` (unless `create: false`) and asks the TokenRequest API for a token
 * of it; the cluster's server and CA come from the control plane's admin kubeconfig.
 */
export async function serviceAccountToken(
  cp: Pick<ControlPlane, "kubeconfig">,
  name: string,
  options: TokenOptions = {},
): Promise<{ token: string; server: string; caData: string }> {
  const namespace = options.namespace ?? "default";
  if (options.create !== false) {
    await createObject(cp, {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name, namespace },
    });
  }
  const admin = new KubeConfig();
  admin.loadFromFile(cp.kubeconfig);
  const request = await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: options.expirationSeconds } },
  });
  const token = request.status?.token;
  if (!token) throw new Error(`TokenRequest for ServiceAccount ${namespace}/${name}: no token`);
  const cluster = admin.getCurrentCluster();
  if (!cluster?.caData) throw new Error(`${cp.kubeconfig}: no current cluster with a CA`);
  return { token, server: cluster.server, caData: cluster.caData };
}

/**
 * {@link serviceAccountToken} written into a kubeconfig (0600, a directory of its own).
 *
 * @param options - also `context`, the kubeconfig's context name (default `c`)
 */
export async function serviceAccountKubeconfig(
  cp: Pick<ControlPlane, "kubeconfig">,
  name: string,
  options: TokenOptions & { context?: string } = {},
): Promise<ServiceAccountKubeconfig> {
  const { token, server, caData } = await serviceAccountToken(cp, name, options);
  const ca = { "certificate-authority-data": caData };
  const { file, remove } = kubeconfigFor(server, token, ca, options.context);
  return { file, user: name, token, remove };
}

/**
 * Lets ServiceAccount `user` (of namespace `default`, or `grant.serviceAccountNamespace`) do
 * `verbs` on `resource` (`<plural>.<group>`, or `<plural>` for the core group) in `namespace` and
 * nothing more: a Role and a RoleBinding, both named after the ServiceAccount.
 */
export async function grantInNamespace(
  cp: Pick<ControlPlane, "kubeconfig">,
  user: string,
  grant: { namespace: string; verbs: string[]; resource: string; serviceAccountNamespace?: string },
): Promise<void> {
  const [resource, ...group] = grant.resource.split(".");
  const metadata = { name: user, namespace: grant.namespace };
  const rbac = "rbac.authorization.k8s.io";
  await createObject(cp, {
    apiVersion: `${rbac}/v1`,
    kind: "Role",
    metadata,
    rules: [{ apiGroups: [group.join(".")], resources: [resource], verbs: grant.verbs }],
  } as KubernetesObject);
  await createObject(cp, {
    apiVersion: `${rbac}/v1`,
    kind: "RoleBinding",
    metadata,
    roleRef: { apiGroup: rbac, kind: "Role", name: user },
    subjects: [
      { kind: "ServiceAccount", name: user, namespace: grant.serviceAccountNamespace ?? "default" },
    ],
  } as KubernetesObject);
}
