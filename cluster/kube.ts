// Talking to the API server. Objects are read and written with @kubernetes/client-node, one
// client per kubeconfig: the tests hold several control planes and users at once, and the harness
// must show in the audit log as someone other than the watcher, whose kubernetes-fluent-client has
// a fixed User-Agent (docs/development.md, "Which client talks to the API server"). kubectl runs
// where it is the user's own command.
import { execFile } from "node:child_process";

import {
  ApiException,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  V1CustomResourceDefinition,
} from "@kubernetes/client-node";

import {
  moduleUUID,
  PEPR_STORE_GVK,
  STORE_NAMESPACE,
  storeName as storeNameOf,
} from "../store/contract";
import type { ControlPlane } from "./controlplane";
import { waitFor } from "./wait";

/** Namespace the capability watches. */
export const MODULE_NAMESPACE = "hello-pepr-store-resources";
/** The field manager of the harness's server-side applies. */
export const FIELD_MANAGER = "hello-pepr-store-resources-cluster";

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
    // kubectl may exit before reading its stdin (it needs none for `get`): the EPIPE that then
    // comes on the pipe is not the result, its exit code and stderr are
    child.stdin?.on("error", () => undefined);
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
export interface PeprStoreObject extends KubernetesObject {
  metadata: {
    name: string;
    namespace: string;
    resourceVersion: string;
    labels?: Record<string, string>;
  };
  data?: Record<string, string>;
}

/** The clients of one kubeconfig: generic objects, and custom objects exactly as sent. */
interface Clients {
  objects: KubernetesObjectApi;
  customObjects: CustomObjectsApi;
}

const clients = new Map<string, Clients>();

/**
 * The client-node clients for `kubeconfig`, made once per path. $KUBECONFIG may be a list of
 * files: then client-node merges it as kubectl does.
 */
function clientsOf(kubeconfig: string): Clients {
  let made = clients.get(kubeconfig);
  if (!made) {
    const kc = new KubeConfig();
    if (kubeconfig === process.env.KUBECONFIG) kc.loadFromDefault();
    else kc.loadFromFile(kubeconfig);
    made = {
      objects: KubernetesObjectApi.makeApiClient(kc),
      customObjects: kc.makeApiClient(CustomObjectsApi),
    };
    clients.set(kubeconfig, made);
  }
  return made;
}

/** A client-node object client for `kubeconfig` (default the control plane's). */
export function objectApi(
  cp: Pick<ControlPlane, "kubeconfig">,
  kubeconfig = cp.kubeconfig,
): KubernetesObjectApi {
  return clientsOf(kubeconfig).objects;
}

/** Whether `err` is the API server's answer with HTTP status `code`. */
export function isStatus(err: unknown, code: number): boolean {
  return err instanceof ApiException && err.code === code;
}

/** The header of an object: its apiVersion, kind, name and (if namespaced) namespace. */
export interface ObjectHeader {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

/** The header of the PeprStore `name` (kind, namespace, name), to read or delete it. */
export function peprStoreObject(
  name = storeNameOf(moduleUUID()),
  namespace = STORE_NAMESPACE,
): ObjectHeader {
  return {
    apiVersion: `${PEPR_STORE_GVK.group}/${PEPR_STORE_GVK.version}`,
    kind: PEPR_STORE_GVK.kind,
    metadata: { name, namespace },
  };
}

/** The header of the Namespace `name`, to read or delete it. */
export function namespaceObject(name: string): ObjectHeader {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name } };
}

/** The header of the CustomResourceDefinition `name` (`<plural>.<group>`), to read or delete it. */
export function crdObject(name: string): ObjectHeader {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name },
  };
}

/** Reads a PeprStore CR (the module's by default), or `undefined` when it does not exist. */
export async function getStore(
  cp: Pick<ControlPlane, "kubeconfig">,
  name = storeNameOf(moduleUUID()),
  namespace = STORE_NAMESPACE,
): Promise<PeprStoreObject | undefined> {
  try {
    return await objectApi(cp).read<PeprStoreObject>(peprStoreObject(name, namespace));
  } catch (err) {
    if (isStatus(err, 404)) return undefined;
    throw new Error(`get PeprStore ${name} in namespace ${namespace}: ${messageOf(err)}`, {
      cause: err,
    });
  }
}

/** Where a PeprStore is, for the custom-objects client. */
function storePath(store: { name: string; namespace?: string }) {
  const { group, version, plural } = PEPR_STORE_GVK;
  return {
    group,
    version,
    plural,
    namespace: store.namespace ?? STORE_NAMESPACE,
    name: store.name,
  };
}

/**
 * Patches a PeprStore CR as Pepr does (a JSON patch, by default) or with a merge patch.
 *
 * @param patch - the JSON patch operations, or the merge patch object
 * @returns the CR as the API server returned it after the patch
 */
export async function patchStore(
  cp: Pick<ControlPlane, "kubeconfig">,
  store: { name: string; namespace?: string },
  patch: object,
  strategy: "json" | "merge" = "json",
): Promise<PeprStoreObject> {
  const where = storePath(store);
  const contentType = strategy === "json" ? PatchStrategy.JsonPatch : PatchStrategy.MergePatch;
  try {
    return (await clientsOf(cp.kubeconfig).customObjects.patchNamespacedCustomObject(
      { ...where, body: patch },
      setHeaderOptions("Content-Type", contentType),
    )) as PeprStoreObject;
  } catch (err) {
    const what = `patch PeprStore ${where.name} in namespace ${where.namespace}`;
    throw new Error(`${what}: ${messageOf(err)}`, { cause: err });
  }
}

/**
 * Reads a PeprStore CR exactly as the API server sends it (managedFields included, nothing
 * deserialised), to measure its size.
 */
export async function readStoreAsSent(
  cp: Pick<ControlPlane, "kubeconfig">,
  store: { name: string; namespace?: string },
): Promise<object> {
  return (await clientsOf(cp.kubeconfig).customObjects.getNamespacedCustomObject(
    storePath(store),
  )) as object;
}

/** Changes `object` with a JSON merge patch (`kubectl patch --type=merge`). */
export async function mergePatchObject(
  cp: Pick<ControlPlane, "kubeconfig">,
  object: ObjectHeader,
  patch: object,
): Promise<void> {
  const metadata = { ...(patch as { metadata?: object }).metadata, ...object.metadata };
  const body = { ...patch, apiVersion: object.apiVersion, kind: object.kind, metadata };
  try {
    await objectApi(cp).patch(
      body,
      undefined,
      undefined,
      undefined,
      undefined,
      PatchStrategy.MergePatch,
    );
  } catch (err) {
    throw new Error(`patch ${describeObject(object)}: ${messageOf(err)}`, { cause: err });
  }
}

/** Waits until the store CR's data satisfies `done` and returns the CR. */
export function waitForStore(
  cp: Pick<ControlPlane, "kubeconfig">,
  what: string,
  done: (data: Record<string, string>, store: PeprStoreObject) => boolean,
  timeoutMs?: number,
): Promise<PeprStoreObject> {
  const name = storeNameOf(moduleUUID());
  return waitFor(
    `PeprStore ${name} ${what}`,
    async () => {
      const store = await getStore(cp, name);
      return store && done(store.data ?? {}, store) ? store : undefined;
    },
    timeoutMs,
  );
}

/** Reads `object` as the API server has it now, or `undefined` when it does not exist (404). */
export async function readObject<T extends KubernetesObject>(
  cp: Pick<ControlPlane, "kubeconfig">,
  object: ObjectHeader,
): Promise<T | undefined> {
  try {
    return await objectApi(cp).read<T>(object);
  } catch (err) {
    if (isStatus(err, 404)) return undefined;
    throw new Error(`read ${describeObject(object)}: ${messageOf(err)}`, { cause: err });
  }
}

/** Creates `object`; with `exists: "ok"` an AlreadyExists answer (409) is no error. */
export async function createObject<T extends KubernetesObject>(
  cp: Pick<ControlPlane, "kubeconfig">,
  object: T,
  options: { exists?: "ok" | "fail" } = {},
): Promise<T | undefined> {
  try {
    return await objectApi(cp).create(object);
  } catch (err) {
    if (options.exists === "ok" && isStatus(err, 409)) return undefined;
    throw new Error(`create ${describeObject(object)}: ${messageOf(err)}`, { cause: err });
  }
}

/** Server-side applies `object` (forcing conflicts), as `kubectl apply --server-side --force-conflicts`. */
export async function applyObject<T extends KubernetesObject>(
  cp: Pick<ControlPlane, "kubeconfig">,
  object: T,
): Promise<T> {
  try {
    return await objectApi(cp).patch(
      object,
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
  } catch (err) {
    throw new Error(`apply ${describeObject(object)}: ${messageOf(err)}`, { cause: err });
  }
}

/** Deletes `object`; a NotFound answer (404) is no error. Returns whether it existed. */
export async function deleteObject(
  cp: Pick<ControlPlane, "kubeconfig">,
  object: KubernetesObject,
): Promise<boolean> {
  try {
    await objectApi(cp).delete(object);
    return true;
  } catch (err) {
    if (isStatus(err, 404)) return false;
    throw new Error(`delete ${describeObject(object)}: ${messageOf(err)}`, { cause: err });
  }
}

/** Waits until the API server serves the CRD `name` (its Established condition is True). */
export function waitForCrdEstablished(
  cp: Pick<ControlPlane, "kubeconfig">,
  name: string,
  timeoutMs?: number,
): Promise<true> {
  return waitFor(
    `CRD ${name} to be Established`,
    async () => {
      const crd = await objectApi(cp).read<V1CustomResourceDefinition>(crdObject(name));
      const established = crd.status?.conditions?.find(c => c.type === "Established");
      return established?.status === "True" ? true : undefined;
    },
    timeoutMs,
  );
}

/** Creates a namespace unless it exists; returns whether it created it. */
export async function ensureNamespace(
  cp: Pick<ControlPlane, "kubeconfig">,
  namespace: string,
): Promise<boolean> {
  const created = await createObject(cp, namespaceObject(namespace), { exists: "ok" });
  return created !== undefined;
}

/** Creates a ConfigMap (and its namespace if needed). */
export async function createConfigMap(
  cp: Pick<ControlPlane, "kubeconfig">,
  namespace: string,
  name: string,
): Promise<void> {
  await ensureNamespace(cp, namespace);
  await createObject(cp, {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name, namespace },
    data: { created: "by-test" },
  } as KubernetesObject);
}

/** `Kind namespace/name`, for messages. */
export function describeObject(object: KubernetesObject): string {
  const ns = object.metadata?.namespace ? `${object.metadata.namespace}/` : "";
  return `${object.kind} ${ns}${object.metadata?.name}`;
}

/** The API server's message for an ApiException (HTTP code and Status message), else the error's. */
function messageOf(err: unknown): string {
  if (err instanceof ApiException) return `HTTP ${err.code}: ${statusMessage(err)}`;
  return err instanceof Error ? err.message : String(err);
}

/** The Status message of the API server's answer, or its body when that is no Status. */
function statusMessage(err: ApiException<unknown>): string {
  let body: unknown = err.body;
  try {
    if (typeof body === "string") body = JSON.parse(body);
  } catch {
    // not JSON: keep the text
  }
  const message = (body as { message?: unknown } | undefined)?.message;
  return typeof message === "string" ? message : String(err.body ?? "");
}

/** How the API server refused a request: the HTTP code and the Status message. */
export interface Refusal {
  code: number;
  message: string;
}

/**
 * Awaits `request` and returns how the API server refused it, for tests that assert on the
 * answer; `undefined` when it did what was asked.
 *
 * @throws what is no answer of the API server (a refused connection, a timeout)
 */
export async function refusalOf(request: Promise<unknown>): Promise<Refusal | undefined> {
  try {
    await request;
    return undefined;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    return { code: err.code, message: statusMessage(err) };
  }
}

/** What {@link waitForPermission} asks about. */
export interface Permission {
  verb: string;
  /** `<plural>` or `<plural>.<group>`, as kubectl names resources (`peprstores.pepr.dev`). */
  resource: string;
  /** Default: every namespace. */
  namespace?: string;
  /** Ask for this user (a SubjectAccessReview, needs the admin kubeconfig); default: whoever the kubeconfig authenticates as. */
  user?: string;
}

/** Asks the API server whether `p` is allowed (a SelfSubjectAccessReview, or a SubjectAccessReview for `p.user`), as `kubectl auth can-i`. */
export async function allowed(
  cp: Pick<ControlPlane, "kubeconfig">,
  p: Permission,
  kubeconfig: string,
): Promise<boolean> {
  const dot = p.resource.indexOf(".");
  const resourceAttributes = {
    verb: p.verb,
    resource: dot === -1 ? p.resource : p.resource.slice(0, dot),
    group: dot === -1 ? "" : p.resource.slice(dot + 1),
    namespace: p.namespace,
  };
  const review = await objectApi(cp, kubeconfig).create({
    apiVersion: "authorization.k8s.io/v1",
    kind: p.user ? "SubjectAccessReview" : "SelfSubjectAccessReview",
    metadata: {},
    spec: p.user ? { resourceAttributes, user: p.user } : { resourceAttributes },
  } as KubernetesObject);
  return (review as { status?: { allowed?: boolean } }).status?.allowed === true;
}

/**
 * Waits until the API server says `p` is allowed, as `kubectl auth can-i` would. RBAC reads
 * bindings from an informer cache, so a binding just created takes a moment to apply; a client
 * started before then is refused.
 *
 * @param options - `kubeconfig` to ask as (default the control plane's admin kubeconfig)
 * @throws TimeoutError naming the permission when it is still denied at the deadline
 */
export async function waitForPermission(
  cp: Pick<ControlPlane, "kubeconfig">,
  p: Permission,
  options: { kubeconfig?: string } = {},
): Promise<void> {
  const where = p.namespace ? `in namespace ${p.namespace}` : "in every namespace";
  await waitFor(
    `permission to ${p.verb} ${p.resource} ${where}${p.user ? ` as ${p.user}` : ""}`,
    async () => ((await allowed(cp, p, options.kubeconfig ?? cp.kubeconfig)) ? true : undefined),
  );
}
