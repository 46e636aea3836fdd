// Least privilege: the watcher runs with only the ServiceAccount, ClusterRole and bindings that
// `npx pepr build` generates with rbacMode "scoped" (plus package.json pepr.rbac), through a token
// from the TokenRequest API, and the whole scenario still passes.
import {
  KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  V1PolicyRule,
} from "@kubernetes/client-node";

import {
  allowed,
  applyObject,
  buildModule,
  ControlPlane,
  createConfigMap,
  getStore,
  ModuleProcess,
  auditLog,
  objectApi,
  refusalOf,
  startModule,
  waitForCrdEstablished,
  waitForPermission,
} from "../../cluster";
import { moduleUUID, STORE_NAMESPACE, storeName } from "../../store/contract";
import { EXPECTED_DATA, MODULE_NAMESPACE, OBSERVED_TIMEOUT_MS } from "./scenario";
import { cleanSharedCluster } from "./shared-cluster";
import {
  serviceAccountKubeconfig,
  ServiceAccountKubeconfig,
} from "../shared-cluster/service-account";
import { manifestObjects } from "./manifest-objects";

const SERVICE_ACCOUNT = `pepr-${moduleUUID()}`;
const USER = `system:serviceaccount:${STORE_NAMESPACE}:${SERVICE_ACCOUNT}`;
const RBAC_KINDS = ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"];

interface Manifest {
  kind: string;
  metadata: { name: string };
  rules?: V1PolicyRule[];
}

describe("the watcher as its scoped ServiceAccount", () => {
  let cp: ControlPlane;
  let mod: ModuleProcess | undefined;
  let watcherKubeconfig: ServiceAccountKubeconfig | undefined;
  let tokenKubeconfig: string;
  let manifests: Manifest[];
  /** When this file began on the shared control plane: earlier files' requests are older. */
  let startedAt: number;
  /** This file's audit events. */
  const audited = () =>
    auditLog(cp)
      .all()
      .filter(e => e.stageMs >= startedAt);
  /** How the API server refused `request` made with the watcher's token: HTTP code and message. */
  const asWatcher = (request: (api: KubernetesObjectApi) => Promise<unknown>) =>
    refusalOf(request(objectApi(cp, tokenKubeconfig)));
  /** `kubectl auth can-i VERB RESOURCE -n NAMESPACE`, asked as the watcher. */
  const watcherMay = (verb: string, resource: string, namespace?: string) =>
    allowed(cp, { verb, resource, namespace }, tokenKubeconfig);

  beforeAll(async () => {
    startedAt = Date.now();
    // pepr-system and the PeprStore CRD: what `pepr deploy` applies as the cluster admin
    cp = await cleanSharedCluster();
    const { manifest } = buildModule();
    manifests = manifestObjects<Manifest>(manifest);
    const rbac = manifests.filter(m => RBAC_KINDS.includes(m.kind));
    for (const object of rbac) await applyObject(cp, object as unknown as KubernetesObject);
    // A token for the ServiceAccount (TokenRequest API) and a kubeconfig holding only that.
    watcherKubeconfig = await serviceAccountKubeconfig(cp, SERVICE_ACCOUNT, {
      namespace: STORE_NAMESPACE,
      create: false,
      expirationSeconds: 2 * 60 * 60,
    });
    tokenKubeconfig = watcherKubeconfig.file;

    // Start the watcher only once RBAC grants it every rule of its ClusterRole (bound by the
    // ClusterRoleBinding), or its first requests get 403s from a cache that lags.
    const granted = manifests.find(m => m.kind === "ClusterRole")?.rules ?? [];
    for (const { apiGroups = [], resources = [], verbs } of granted) {
      for (const resource of apiGroups.flatMap(g => resources.map(r => (g ? `${r}.${g}` : r)))) {
        for (const verb of verbs) {
          await waitForPermission(cp, { verb, resource }, { kubeconfig: tokenKubeconfig });
        }
      }
    }
    mod = await startModule(cp, { kubeconfig: tokenKubeconfig, skipPrepare: true });
    await createConfigMap(cp, MODULE_NAMESPACE, "observe");
    await mod.waitForLog(`watcher "observed"`, r => r.msg === "observed", OBSERVED_TIMEOUT_MS);
  });

  afterAll(async () => {
    await mod?.stop();
    watcherKubeconfig?.remove();
  });

  it("uses a kubeconfig that authenticates as the ServiceAccount", async () => {
    const review = await objectApi(cp, tokenKubeconfig).create({
      apiVersion: "authentication.k8s.io/v1",
      kind: "SelfSubjectReview",
      metadata: {},
    } as KubernetesObject);
    expect(
      (review as { status?: { userInfo?: { username?: string } } }).status?.userInfo?.username,
    ).toBe(USER);
  });

  it("runs the scenario: observed logged, exact CR data, written by the ServiceAccount", async () => {
    expect((await getStore(cp))?.data).toEqual(EXPECTED_DATA);
    // the PeprStore's PATCHes only: the admin's server-side applies of the RBAC manifests
    // PATCH a Role and a RoleBinding of the same name
    const patches = audited().filter(
      e =>
        e.stage === "ResponseComplete" &&
        e.verb === "patch" &&
        e.objectRef?.resource === "peprstores" &&
        e.objectRef?.name === storeName(),
    );
    expect(patches.length).toBeGreaterThan(0);
    expect(new Set(patches.map(p => p.user.username))).toEqual(new Set([USER]));
  });

  it("makes no request that RBAC denies", () => {
    const denied = audited()
      .filter(e => e.user.username === USER && e.responseStatus?.code === 403)
      .map(e => `${e.verb} ${e.requestURI}`);
    expect(denied).toEqual([]);
  });

  it("gets exactly the generated rules plus the two list rules from package.json pepr.rbac", () => {
    const role = manifests.find(m => m.kind === "ClusterRole");
    expect(role?.rules).toEqual([
      { apiGroups: [""], resources: ["configmaps"], verbs: ["list", "watch"] },
      {
        apiGroups: ["pepr.dev"],
        resources: ["peprstores"],
        verbs: ["list", "create", "get", "patch", "watch"],
      },
      {
        apiGroups: ["apiextensions.k8s.io"],
        resources: ["customresourcedefinitions"],
        verbs: ["patch", "create"],
      },
    ]);
  });

  it.each([
    ["get", "secrets", undefined],
    ["list", "secrets", STORE_NAMESPACE],
    ["create", "configmaps", MODULE_NAMESPACE],
    ["update", "configmaps", MODULE_NAMESPACE],
    ["delete", "configmaps", MODULE_NAMESPACE],
    ["patch", "widgets.example.com", STORE_NAMESPACE],
    ["delete", "peprstores.pepr.dev", STORE_NAMESPACE],
  ])("cannot %s %s (in %s)", async (verb, resource, namespace) => {
    expect(await watcherMay(verb, resource, namespace)).toBe(false);
  });

  it("is refused by the API server when it reads a Secret or writes a ConfigMap", async () => {
    const secrets = await asWatcher(api => api.list("v1", "Secret", STORE_NAMESPACE));
    expect(secrets).toEqual({
      code: 403,
      message: `secrets is forbidden: User "${USER}" cannot list resource "secrets" in API group "" in the namespace "${STORE_NAMESPACE}"`,
    });
    const sneaky = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "sneaky", namespace: MODULE_NAMESPACE },
    };
    expect(await asWatcher(api => api.create(sneaky))).toEqual({
      code: 403,
      message: `configmaps is forbidden: User "${USER}" cannot create resource "configmaps" in API group "" in the namespace "${MODULE_NAMESPACE}"`,
    });
  });

  it("cannot patch custom resources other than PeprStores", async () => {
    const crd = {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "widgets.example.com" },
      spec: {
        group: "example.com",
        scope: "Namespaced",
        names: { plural: "widgets", singular: "widget", kind: "Widget" },
        versions: [
          {
            name: "v1",
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
            },
          },
        ],
      },
    };
    await applyObject(cp, crd);
    await waitForCrdEstablished(cp, "widgets.example.com");
    const widget = {
      apiVersion: "example.com/v1",
      kind: "Widget",
      metadata: { name: "w", namespace: STORE_NAMESPACE },
    };
    await applyObject(cp, widget);
    // A PATCH alone (kubectl patch would GET first), with the ServiceAccount's token.
    const patch = { ...widget, spec: { x: 1 } };
    const status = await asWatcher(api =>
      api.patch(patch, undefined, undefined, undefined, undefined, PatchStrategy.MergePatch),
    );
    expect(status).toEqual({
      code: 403,
      message: `widgets.example.com "w" is forbidden: User "${USER}" cannot patch resource "widgets" in API group "example.com" in the namespace "${STORE_NAMESPACE}"`,
    });
  });
});
