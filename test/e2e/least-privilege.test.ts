// Least privilege: the watcher runs with only the ServiceAccount, ClusterRole and bindings that
// `npx pepr build` generates with rbacMode "scoped" (plus package.json pepr.rbac), through a token
// from the TokenRequest API, and the whole scenario still passes.
import https from "node:https";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { V1PolicyRule } from "@kubernetes/client-node";
import { parse, parseAllDocuments } from "yaml";

import {
  buildModule,
  ControlPlane,
  createConfigMap,
  getStore,
  kubectl,
  kubectlRun,
  ModuleProcess,
  auditLog,
  startModule,
  waitForPermission,
} from "../../cluster";
import { moduleUUID, STORE_NAMESPACE, storeName } from "../../store/contract";
import { EXPECTED_DATA, MODULE_NAMESPACE, OBSERVED_TIMEOUT_MS } from "./scenario";
import { cleanSharedCluster } from "./shared-cluster";

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
  let dir: string;
  let tokenKubeconfig: string;
  let manifests: Manifest[];
  /** When this file began on the shared control plane: earlier files' requests are older. */
  let startedAt: number;
  /** This file's audit events. */
  const audited = () =>
    auditLog(cp)
      .all()
      .filter(e => e.stageMs >= startedAt);
  const asWatcher = (args: string[]) => kubectlRun(cp, args, { kubeconfig: tokenKubeconfig });
  /** Sends a JSON merge PATCH to `apiPath` with the watcher's token; resolves with the Status. */
  const patchAsWatcher = (apiPath: string): Promise<{ code: number; message: string }> => {
    const config = JSON.parse(readFileSync(tokenKubeconfig, "utf8"));
    const url = new URL(apiPath, config.clusters[0].cluster.server);
    return new Promise((resolve, reject) => {
      const req = https.request(
        url,
        {
          method: "PATCH",
          ca: Buffer.from(config.clusters[0].cluster["certificate-authority-data"], "base64"),
          headers: {
            Authorization: `Bearer ${config.users[0].user.token}`,
            "Content-Type": "application/merge-patch+json",
          },
        },
        res => {
          let body = "";
          res.on("data", d => (body += d));
          res.on("end", () => {
            const parsed = JSON.parse(body);
            resolve({ code: parsed.code, message: parsed.message });
          });
        },
      );
      req.on("error", reject);
      req.end(JSON.stringify({ spec: { x: 1 } }));
    });
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "hpsr-sa-"));
    startedAt = Date.now();
    // pepr-system and the PeprStore CRD: what `pepr deploy` applies as the cluster admin
    cp = await cleanSharedCluster();
    const { manifest } = buildModule();
    manifests = parseAllDocuments(readFileSync(manifest, "utf8")).map(d => d.toJS() as Manifest);
    const rbac = manifests.filter(m => RBAC_KINDS.includes(m.kind));
    await kubectl(cp, ["apply", "-f", "-"], {
      input: JSON.stringify({ apiVersion: "v1", kind: "List", items: rbac }),
    });

    // A token for the ServiceAccount (TokenRequest API) and a kubeconfig holding only that.
    const token = (
      await kubectl(cp, [
        "create",
        "token",
        SERVICE_ACCOUNT,
        "-n",
        STORE_NAMESPACE,
        "--duration=2h",
      ])
    ).trim();
    const admin = parse(readFileSync(cp.kubeconfig, "utf8"));
    tokenKubeconfig = path.join(dir, "kubeconfig");
    writeFileSync(
      tokenKubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "local", cluster: admin.clusters[0].cluster }],
        users: [{ name: SERVICE_ACCOUNT, user: { token } }],
        contexts: [{ name: "watcher", context: { cluster: "local", user: SERVICE_ACCOUNT } }],
        "current-context": "watcher",
      }),
    );

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
    rmSync(dir, { recursive: true, force: true });
  });

  it("uses a kubeconfig that authenticates as the ServiceAccount", async () => {
    expect(
      (await asWatcher(["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"])).stdout,
    ).toBe(USER);
  });

  it("runs the scenario: observed logged, exact CR data, written by the ServiceAccount", async () => {
    expect((await getStore(cp))?.data).toEqual(EXPECTED_DATA);
    const patches = audited().filter(
      e =>
        e.stage === "ResponseComplete" && e.verb === "patch" && e.objectRef?.name === storeName(),
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
    ["get", "secrets", "--all-namespaces"],
    ["list", "secrets", "-n", STORE_NAMESPACE],
    ["create", "configmaps", "-n", MODULE_NAMESPACE],
    ["update", "configmaps", "-n", MODULE_NAMESPACE],
    ["delete", "configmaps", "-n", MODULE_NAMESPACE],
    ["patch", "widgets.example.com", "-n", STORE_NAMESPACE],
    ["delete", "peprstores.pepr.dev", "-n", STORE_NAMESPACE],
  ])("cannot %s %s", async (...args) => {
    const r = await asWatcher(["auth", "can-i", ...args]);
    expect(r.stdout.trim()).toBe("no");
    expect(r.code).toBe(1);
  });

  it("is refused by the API server when it reads a Secret or writes a ConfigMap", async () => {
    const secrets = await asWatcher(["get", "secrets", "-n", STORE_NAMESPACE]);
    expect(secrets.code).toBe(1);
    expect(secrets.stderr).toContain(`User "${USER}" cannot list resource "secrets"`);
    const cm = await asWatcher(["create", "configmap", "sneaky", "-n", MODULE_NAMESPACE]);
    expect(cm.code).toBe(1);
    expect(cm.stderr).toContain(`User "${USER}" cannot create resource "configmaps"`);
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
    await kubectl(cp, ["apply", "-f", "-"], { input: JSON.stringify(crd) });
    await kubectl(cp, ["wait", "--for=condition=Established", "crd/widgets.example.com"]);
    const widget = {
      apiVersion: "example.com/v1",
      kind: "Widget",
      metadata: { name: "w", namespace: STORE_NAMESPACE },
    };
    await kubectl(cp, ["apply", "-f", "-"], { input: JSON.stringify(widget) });
    // A real PATCH (kubectl patch would GET first), with the ServiceAccount's token.
    const status = await patchAsWatcher(
      `/apis/example.com/v1/namespaces/${STORE_NAMESPACE}/widgets/w`,
    );
    expect(status).toEqual({
      code: 403,
      message: `widgets.example.com "w" is forbidden: User "${USER}" cannot patch resource "widgets" in API group "example.com" in the namespace "${STORE_NAMESPACE}"`,
    });
  });
});
