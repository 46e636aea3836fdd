// What the integration test files share: the control plane of test/shared-cluster/global-setup.ts, kubeconfigs for
// it and for a tiny local HTTP server, and a recorder for Pepr's log.
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";

// cluster/kube.ts, not the barrel: the barrel loads Pepr's sources (cluster/local-watcher.ts), whose
// kinds clash with those of the Pepr build the code under test loads.
import { applyObject, ensureNamespace, peprStoreObject } from "../../cluster/kube";
import { PEPR_STORE_RESOURCE, STORE_NAMESPACE } from "../../store/contract";
import {
  grantInNamespace,
  serviceAccountKubeconfig,
  ServiceAccountKubeconfig,
} from "../shared-cluster/service-account";
import { SharedCluster, sharedCluster } from "../shared-cluster/state";
export { recordLogs } from "../record-logs";

/** The control plane of the integration tier, as kubectl and the tests reach it. */
export type IntegrationCluster = SharedCluster;

/** Names the JSON file test/integration/global-setup.ts writes with the {@link FaultCluster}. */
export const ENV_FAULT_CLUSTER = "HPSR_FAULT_CLUSTER";

/** The fault tests' own control plane: its API server switch and the PeprStore CRD to restore. */
export interface FaultCluster extends Omit<SharedCluster, "local"> {
  /** Its control endpoint and the file with the endpoint's token (cluster/controlplane.ts ReadyLine). */
  control: string;
  controlToken: string;
  /** Pepr's PeprStore CRD, as prepareCluster applied it. */
  crd: object;
}

/** The fault tests' control plane, or `undefined` on an existing cluster (none is started). */
export function faultCluster(): FaultCluster | undefined {
  const file = process.env[ENV_FAULT_CLUSTER];
  return file ? (JSON.parse(readFileSync(file, "utf8")) as FaultCluster) : undefined;
}

/** The control plane test/shared-cluster/global-setup.ts started. */
export function integrationCluster(): IntegrationCluster {
  return sharedCluster();
}

/** A unique lower-case name for this test's objects, so files and tests never share a CR. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/** Applies a PeprStore named `name` (in pepr-system by default) with exactly `data` and `labels`. */
export async function applyStore(
  name: string,
  data: Record<string, string> | undefined,
  labels?: Record<string, string>,
  namespace = STORE_NAMESPACE,
): Promise<void> {
  await applyObject(integrationCluster(), {
    ...peprStoreObject(name, namespace),
    metadata: { name, namespace, ...(labels ? { labels } : {}) },
    ...(data ? { data } : {}),
  });
}

/** Creates a namespace of its own for one test. */
export async function freshNamespace(prefix = "it"): Promise<string> {
  const namespace = uniqueName(prefix);
  await ensureNamespace(integrationCluster(), namespace);
  return namespace;
}

/**
 * A kubeconfig for a ServiceAccount token on the integration control plane: the ServiceAccount
 * has no RBAC binding, so every request about a PeprStore gets a real 403.
 */
export function forbiddenKubeconfig(
  name = uniqueName("no-rights"),
  cp: Omit<SharedCluster, "local"> = integrationCluster(),
): Promise<ServiceAccountKubeconfig> {
  return serviceAccountKubeconfig(cp, name);
}

/**
 * A kubeconfig for a ServiceAccount that may do `verbs` on PeprStores in `namespace` and nothing
 * else: {@link forbiddenKubeconfig} with a Role and a RoleBinding, both named after it.
 */
export async function kubeconfigAllowedTo(
  verbs: string[],
  namespace: string,
  cp: Omit<SharedCluster, "local"> = integrationCluster(),
): Promise<ServiceAccountKubeconfig> {
  const sa = await forbiddenKubeconfig(uniqueName("sa"), cp);
  await grantInNamespace(cp, sa.user, { namespace, verbs, resource: PEPR_STORE_RESOURCE });
  return sa;
}

/** A local HTTP server giving the one answer the real API server cannot give on demand. */
export interface TinyServer {
  url: string;
  /** The requests it received: method and path. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * Starts a plain-HTTP server on 127.0.0.1 that answers every request with `answer` (which may
 * also never answer). Hand-written: node:http is all it takes for one canned response.
 */
export async function tinyServer(
  answer: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<TinyServer> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    answer(req, res);
  });
  await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise(resolve => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A free port nothing listens on (taken, then released). */
export async function closedPort(): Promise<number> {
  const s = await tinyServer((_req, res) => res.end());
  const port = Number(new URL(s.url).port);
  await s.close();
  return port;
}

/**
 * Sets $KUBECONFIG (which kubernetes-fluent-client reads for every request) to `file` until the
 * returned function is called.
 */
export function useKubeconfigEnv(file: string): () => void {
  const previous = process.env.KUBECONFIG;
  process.env.KUBECONFIG = file;
  return () => {
    if (previous === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = previous;
  };
}
