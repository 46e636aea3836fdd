import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import { manifestObjects } from "../e2e/manifest-objects";

const root = resolve(__dirname, "../..");
const uuid = "hello-pepr-store-resources";
const manifestPath = join(root, "dist", `pepr-module-${uuid}.yaml`);
const bundlePath = join(root, "dist", `pepr-${uuid}.js`);
/** Upper bound for one `npx pepr build` (about 15 s on a 2-core machine). */
const BUILD_TIMEOUT_MS = 180_000;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [field: string]: unknown;
}

interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** The module's sources: the manifest is stale if any of them is newer. */
function moduleInputs(): string[] {
  const capabilities = readdirSync(join(root, "capabilities")).map(f => join("capabilities", f));
  return ["package.json", "pepr.ts", ...capabilities].map(f => join(root, f));
}

/**
 * Runs `npx pepr build` unless dist/ already holds a manifest newer than the module's sources
 * (.ci/run builds before the tests, so there it is only read).
 *
 * @throws Error with pepr's output if the build fails
 */
function ensureBuilt(): void {
  if (existsSync(manifestPath)) {
    const built = statSync(manifestPath).mtimeMs;
    if (moduleInputs().every(f => statSync(f).mtimeMs <= built)) return;
  }
  // The test environment sets PEPR_MODE=build for in-process imports; the CLI sets it itself.
  const env = { ...process.env };
  delete env.PEPR_MODE;
  delete env.PEPR_WATCH_MODE;
  const build = spawnSync("npx", ["pepr", "build"], {
    cwd: root,
    env,
    encoding: "utf8",
    timeout: BUILD_TIMEOUT_MS,
  });
  if (build.status !== 0 || !existsSync(manifestPath)) {
    throw new Error(
      `npx pepr build: exit ${build.status} ${build.signal ?? ""}, ${manifestPath} not written\n` +
        `${build.stdout}\n${build.stderr}`,
    );
  }
}

/** Whether any rule grants `verb` on `resource` in API group `group` (any resource name). */
function allows(rules: PolicyRule[], group: string, resource: string, verb: string): boolean {
  return rules.some(
    r =>
      r.apiGroups.includes(group) &&
      r.resources.includes(resource) &&
      r.verbs.includes(verb) &&
      (r.resourceNames === undefined || r.resourceNames.length === 0),
  );
}

describe(`dist/pepr-module-${uuid}.yaml`, () => {
  let objects: K8sObject[] = [];

  const find = (kind: string, name: string): K8sObject => {
    const found = objects.filter(o => o.kind === kind && o.metadata.name === name);
    if (found.length !== 1) {
      throw new Error(`${kind} ${name}: found ${found.length} in ${manifestPath}, expected 1`);
    }
    return found[0];
  };

  beforeAll(() => {
    ensureBuilt();
    objects = manifestObjects<K8sObject>(manifestPath);
  }, BUILD_TIMEOUT_MS);

  it("holds only the watcher: no admission controller, no webhooks", () => {
    const kinds = objects.map(o => `${o.kind}/${o.metadata.name}`).sort();
    expect(kinds).toEqual(
      [
        "Namespace/pepr-system",
        `ClusterRole/pepr-${uuid}`,
        `ClusterRoleBinding/pepr-${uuid}`,
        `ServiceAccount/pepr-${uuid}`,
        `Secret/pepr-${uuid}-api-path`,
        `Secret/pepr-${uuid}-tls`,
        `Secret/pepr-${uuid}-module`,
        `Role/pepr-${uuid}-store`,
        `RoleBinding/pepr-${uuid}-store`,
        `Deployment/pepr-${uuid}-watcher`,
        `Service/pepr-${uuid}-watcher`,
      ].sort(),
    );
  });

  it("runs the watcher Deployment in watch mode under the module's ServiceAccount", () => {
    const deployment = find("Deployment", `pepr-${uuid}-watcher`);
    const sa = find("ServiceAccount", `pepr-${uuid}`);
    expect(sa.metadata.namespace).toBe("pepr-system");
    expect(deployment.metadata.namespace).toBe("pepr-system");

    const spec = deployment.spec as {
      template: {
        spec: {
          serviceAccountName: string;
          containers: {
            name: string;
            image: string;
            args: string[];
            env: { name: string; value: string }[];
          }[];
        };
      };
    };
    const pod = spec.template.spec;
    expect(pod.serviceAccountName).toBe(`pepr-${uuid}`);
    expect(pod.containers).toHaveLength(1);
    const [watcher] = pod.containers;
    expect(watcher.name).toBe("watcher");
    expect(watcher.image).toBe("ghcr.io/defenseunicorns/pepr/controller:v1.1.4");
    expect(watcher.env).toEqual([
      { name: "PEPR_WATCH_MODE", value: "true" },
      { name: "PEPR_PRETTY_LOG", value: "false" },
      { name: "LOG_LEVEL", value: "info" },
    ]);

    // The controller is started with the sha256 of the module it unpacks from the Secret.
    const [entry, hash] = watcher.args;
    expect(entry).toBe("/app/node_modules/pepr/dist/controller.js");
    const moduleSecret = find("Secret", `pepr-${uuid}-module`) as K8sObject & {
      data: Record<string, string>;
    };
    expect(Object.keys(moduleSecret.data)).toEqual([`module-${hash}.js.gz`]);
    const code = gunzipSync(Buffer.from(moduleSecret.data[`module-${hash}.js.gz`], "base64"));
    expect(createHash("sha256").update(code).digest("hex")).toBe(hash);
    expect(code.equals(readFileSync(bundlePath))).toBe(true);
  });

  it("grants the ServiceAccount the scoped rules Pepr 1.1.4 derives plus the list rules of pepr.rbac", () => {
    const binding = find("ClusterRoleBinding", `pepr-${uuid}`);
    expect(binding.roleRef).toEqual({
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: `pepr-${uuid}`,
    });
    expect(binding.subjects).toEqual([
      { kind: "ServiceAccount", name: `pepr-${uuid}`, namespace: "pepr-system" },
    ]);

    const rules = find("ClusterRole", `pepr-${uuid}`).rules as PolicyRule[];
    // package.json pepr.rbac adds `list` (kubernetes-fluent-client lists before it watches);
    // Pepr puts custom rules first and merges verbs per group/resource.
    expect(rules).toEqual([
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
    for (const verb of ["list", "watch"]) {
      expect(allows(rules, "", "configmaps", verb)).toBe(true);
    }
    for (const verb of ["list", "get", "create", "patch", "watch"]) {
      expect(allows(rules, "pepr.dev", "peprstores", verb)).toBe(true);
    }
    expect(allows(rules, "", "configmaps", "create")).toBe(false);
    expect(allows(rules, "", "secrets", "get")).toBe(false);
  });
});
