// Talking to the API server from tests: kubectl from the control plane's build, and the audit log.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";

import type { ControlPlane } from "./controlplane";
import { storeName } from "./paths";
import { waitFor } from "./wait";

/** Namespace of the PeprStore CRs (pepr src/lib/controller/store.ts). */
export const STORE_NAMESPACE = "pepr-system";
/** Namespace the capability watches. */
export const MODULE_NAMESPACE = "hello-pepr-store-resources";

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs kubectl against `cp` (or `kubeconfig`) and resolves with its exit code and output.
 * Never rejects on a non-zero exit: callers assert on `code`.
 */
export function kubectlRun(
  cp: Pick<ControlPlane, "kubectl" | "kubeconfig" | "kubectlCacheDir">,
  args: string[],
  options: { input?: string; kubeconfig?: string } = {},
): Promise<KubectlResult> {
  const cacheDir = cp.kubectlCacheDir ? [`--cache-dir=${cp.kubectlCacheDir}`] : [];
  return new Promise(resolve => {
    const child = execFile(
      cp.kubectl,
      ["--request-timeout=20s", ...cacheDir, ...args],
      {
        // KUBERC=off: no aliases or defaults from the user's ~/.kube/kuberc
        env: { ...process.env, KUBECONFIG: options.kubeconfig ?? cp.kubeconfig, KUBERC: "off" },
        maxBuffer: 256 << 20,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(options.input ?? "");
  });
}

/** Runs kubectl and returns stdout; throws with kubectl's stderr on a non-zero exit. */
export async function kubectl(
  cp: Pick<ControlPlane, "kubectl" | "kubeconfig" | "kubectlCacheDir">,
  args: string[],
  options: { input?: string; kubeconfig?: string } = {},
): Promise<string> {
  const result = await kubectlRun(cp, args, options);
  if (result.code !== 0) {
    throw new Error(`kubectl ${args.join(" ")} exited ${result.code}: ${result.stderr.trim()}`);
  }
  return result.stdout;
}

/** The PeprStore CR as the API server returns it. */
export interface PeprStoreObject {
  metadata: {
    name: string;
    namespace: string;
    resourceVersion: string;
    labels?: Record<string, string>;
  };
  data?: Record<string, string>;
}

/** Reads the module's PeprStore CR, or `undefined` when it does not exist. */
export async function getStore(
  cp: ControlPlane,
  name = storeName(),
): Promise<PeprStoreObject | undefined> {
  const result = await kubectlRun(cp, [
    "get",
    "peprstore",
    name,
    "-n",
    STORE_NAMESPACE,
    "-o",
    "json",
  ]);
  if (result.code !== 0) {
    if (result.stderr.includes("NotFound")) return undefined;
    throw new Error(`kubectl get peprstore ${name}: ${result.stderr.trim()}`);
  }
  return JSON.parse(result.stdout) as PeprStoreObject;
}

/** Waits until the store CR's data satisfies `done` and returns the CR. */
export function waitForStore(
  cp: ControlPlane,
  what: string,
  done: (data: Record<string, string>, store: PeprStoreObject) => boolean,
  timeoutMs?: number,
): Promise<PeprStoreObject> {
  return waitFor(
    `PeprStore ${storeName()} ${what}`,
    async () => {
      const store = await getStore(cp);
      return store && done(store.data ?? {}, store) ? store : undefined;
    },
    timeoutMs,
  );
}

/**
 * Waits until `kubectl auth can-i <verb> <resource>` says yes for the kubeconfig's user (or
 * `--as` user). RBAC reads bindings from an informer cache, so a binding just created takes a
 * moment to apply; a client started before then is refused.
 *
 * @param scope - `["-n", ns]`, `["--all-namespaces"]`, and/or `["--as=<user>"]`
 */
export async function waitForPermission(
  cp: Pick<ControlPlane, "kubectl" | "kubeconfig" | "kubectlCacheDir">,
  verb: string,
  resource: string,
  scope: string[],
  options: { kubeconfig?: string } = {},
): Promise<void> {
  await waitFor(`permission to ${verb} ${resource} (${scope.join(" ")})`, async () => {
    const canI = await kubectlRun(cp, ["auth", "can-i", verb, resource, ...scope], options);
    return canI.code === 0 ? true : undefined;
  });
}

/** Creates a ConfigMap (and its namespace if needed). */
export async function createConfigMap(
  cp: ControlPlane,
  namespace: string,
  name: string,
): Promise<void> {
  await ensureNamespace(cp, namespace);
  await kubectl(cp, [
    "create",
    "configmap",
    name,
    "-n",
    namespace,
    "--from-literal=created=by-test",
  ]);
}

/** Creates a namespace unless it exists. */
export async function ensureNamespace(cp: ControlPlane, namespace: string): Promise<void> {
  const manifest = JSON.stringify({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: namespace },
  });
  await kubectl(cp, ["apply", "-f", "-"], { input: manifest });
}

/** One audit event (audit.k8s.io/v1 Event), the fields the tests use. */
export interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string };
  objectRef?: { resource?: string; namespace?: string; name?: string; apiGroup?: string };
  responseStatus?: { code: number };
  requestObject?: unknown;
  requestReceivedTimestamp: string;
  stageTimestamp: string;
}

/** Reads the control plane's audit log (one JSON event per line). */
export function readAudit(cp: ControlPlane): AuditEvent[] {
  if (!cp.local) throw new Error("the audit log is only available on the local control plane");
  return readFileSync(cp.local.auditLog, "utf8")
    .split("\n")
    .filter(line => line.trim() !== "")
    .map(line => JSON.parse(line) as AuditEvent);
}

/** Completed PATCH requests to the module's PeprStore CR, in order. */
export function storePatches(cp: ControlPlane, name = storeName()): AuditEvent[] {
  return readAudit(cp).filter(
    e =>
      e.stage === "ResponseComplete" &&
      e.verb === "patch" &&
      e.objectRef?.resource === "peprstores" &&
      e.objectRef.name === name,
  );
}
