// What readStore does before and after its requests, without a cluster: choosing the kubeconfig
// and context for kubernetes-fluent-client, filling in defaults, and translating what
// kubernetes-fluent-client throws into the library's errors.
import { KubeConfig } from "@kubernetes/client-node";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";

import {
  ApiError,
  ClusterUnreachableError,
  KubeconfigError,
  PermissionDeniedError,
  UnauthorizedError,
} from "../../store/errors";
import { useKubeconfig } from "../../store/kubeconfig";
import { MODULE_CAPABILITIES } from "../../store/capabilities";
import { resolveOptions, translate } from "../../store/read";

/** A kubeconfig with two contexts on two (closed) ports. */
const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
  - name: one
    cluster: { server: "https://127.0.0.1:1" }
  - name: two
    cluster: { server: "https://127.0.0.1:2" }
users:
  - name: u
    user: { token: t }
contexts:
  - name: first
    context: { cluster: one, user: u }
  - name: second
    context: { cluster: two, user: u }
current-context: first
`;

describe("useKubeconfig", () => {
  let dir: string;
  let file: string;
  const saved = {
    KUBECONFIG: process.env.KUBECONFIG,
    HOME: process.env.HOME,
    KUBERNETES_SERVICE_HOST: process.env.KUBERNETES_SERVICE_HOST,
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "hpsr-unit-kc-"));
    file = path.join(dir, "kubeconfig");
    writeFileSync(file, KUBECONFIG);
    delete process.env.KUBECONFIG;
  });

  afterEach(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  /** What kubernetes-fluent-client would see for the next request (fluent/utils.ts k8sCfg). */
  const seenByFluentClient = (): string | undefined => {
    const config = new KubeConfig();
    config.loadFromDefault();
    return config.getCurrentCluster()?.server;
  };

  it("sets $KUBECONFIG to --kubeconfig until restore()", () => {
    const use = useKubeconfig({ kubeconfig: file });
    expect(use.target).toEqual({ source: file, context: "first", server: "https://127.0.0.1:1" });
    expect(seenByFluentClient()).toBe("https://127.0.0.1:1");
    use.restore();
    expect(process.env.KUBECONFIG).toBeUndefined();
  });

  it("selects a context with a file that holds only current-context, removed by restore()", () => {
    process.env.KUBECONFIG = file;
    const use = useKubeconfig({ context: "second" });
    expect(use.target).toEqual({ source: file, context: "second", server: "https://127.0.0.1:2" });
    expect(seenByFluentClient()).toBe("https://127.0.0.1:2");
    const [, contextFile] = (process.env.KUBECONFIG ?? "").split(path.delimiter);
    expect(path.basename(path.dirname(contextFile))).toMatch(/^pepr-store-context-/);
    expect(statSync(contextFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(contextFile, "utf8")).toBe(
      'apiVersion: v1\nkind: Config\ncurrent-context: "second"\n',
    );
    use.restore();
    use.restore();
    expect(process.env.KUBECONFIG).toBe(file);
    expect(existsSync(contextFile)).toBe(false);
  });

  it("changes nothing without options", () => {
    process.env.KUBECONFIG = file;
    const use = useKubeconfig();
    expect(process.env.KUBECONFIG).toBe(file);
    expect(use.target.server).toBe("https://127.0.0.1:1");
    use.restore();
    expect(process.env.KUBECONFIG).toBe(file);
  });

  it("names the contexts there are when the context does not exist, and restores $KUBECONFIG", () => {
    expect(() => useKubeconfig({ kubeconfig: file, context: "third" })).toThrow(
      new KubeconfigError(`context "third" is not in kubeconfig ${file}; contexts: first, second`),
    );
    expect(process.env.KUBECONFIG).toBeUndefined();
  });

  it("says which file cannot be read", () => {
    const missing = path.join(dir, "missing");
    expect(() => useKubeconfig({ kubeconfig: missing })).toThrow(KubeconfigError);
    expect(() => useKubeconfig({ kubeconfig: missing })).toThrow(
      `kubeconfig ${missing}: ENOENT: no such file or directory`,
    );
    let thrown: unknown;
    try {
      useKubeconfig({ kubeconfig: missing });
    } catch (err) {
      thrown = err;
    }
    expect((thrown as KubeconfigError).cause).toMatchObject({ code: "ENOENT", path: missing });
  });

  /** Writes a kubeconfig next to the test's and returns its path. */
  const kubeconfigFile = (name: string, text: string): string => {
    const at = path.join(dir, name);
    writeFileSync(at, text);
    return at;
  };

  it("falls back to ~/.kube/config when $KUBECONFIG is unset or empty", () => {
    process.env.HOME = dir;
    const homeConfig = path.join(dir, ".kube", "config");
    mkdirSync(path.dirname(homeConfig));
    writeFileSync(homeConfig, KUBECONFIG);
    process.env.KUBECONFIG = "";
    const use = useKubeconfig();
    expect(use.target).toEqual({
      source: homeConfig,
      context: "first",
      server: "https://127.0.0.1:1",
    });
    expect(process.env.KUBECONFIG).toBe(homeConfig);
    use.restore();
    expect(process.env.KUBECONFIG).toBe("");
    delete process.env.KUBECONFIG;
    const second = useKubeconfig({ context: "second" });
    expect(second.target).toEqual({
      source: homeConfig,
      context: "second",
      server: "https://127.0.0.1:2",
    });
    second.restore();
    expect(process.env.KUBECONFIG).toBeUndefined();
  });

  it("leaves the in-cluster service account to the client in a pod without a kubeconfig", () => {
    process.env.HOME = dir;
    process.env.KUBERNETES_SERVICE_HOST = "10.96.0.1";
    const use = useKubeconfig();
    expect(use.target.source).toBe("in-cluster service account");
    expect(process.env.KUBECONFIG).toBeUndefined();
    use.restore();
    expect(process.env.KUBECONFIG).toBeUndefined();
  });

  it("needs a kubeconfig for --context even in a pod, and says so without the pod", () => {
    process.env.HOME = dir;
    process.env.KUBERNETES_SERVICE_HOST = "10.96.0.1";
    expect(() => useKubeconfig({ context: "first" })).toThrow(
      new KubeconfigError(
        `no kubeconfig: $KUBECONFIG is unset, ${dir}/.kube/config does not exist`,
      ),
    );
  });

  it("says $HOME is unset when there is no home to look in", () => {
    delete process.env.HOME;
    delete process.env.KUBERNETES_SERVICE_HOST;
    expect(() => useKubeconfig()).toThrow(
      new KubeconfigError(
        "no kubeconfig: $KUBECONFIG is unset, $HOME is unset and this is not a pod (KUBERNETES_SERVICE_HOST is unset)",
      ),
    );
  });

  it("names the contexts there are when there is no current-context", () => {
    const noCurrent = kubeconfigFile(
      "no-current",
      KUBECONFIG.replace("current-context: first\n", ""),
    );
    expect(() => useKubeconfig({ kubeconfig: noCurrent })).toThrow(
      new KubeconfigError(`kubeconfig ${noCurrent}: no current-context; contexts: first, second`),
    );
    const empty = kubeconfigFile("empty", "apiVersion: v1\nkind: Config\n");
    expect(() => useKubeconfig({ kubeconfig: empty })).toThrow(
      new KubeconfigError(`kubeconfig ${empty}: no current-context; contexts: none`),
    );
    expect(process.env.KUBECONFIG).toBeUndefined();
  });

  it("says when the current-context does not exist", () => {
    const gone = kubeconfigFile("gone", "apiVersion: v1\nkind: Config\ncurrent-context: gone\n");
    expect(() => useKubeconfig({ kubeconfig: gone })).toThrow(
      new KubeconfigError(`current-context "gone" is not in kubeconfig ${gone}; contexts: none`),
    );
  });

  it("says when the context names no cluster, and restores $KUBECONFIG", () => {
    const orphan = kubeconfigFile(
      "orphan",
      `${KUBECONFIG}  - name: orphan\n    context: { cluster: nowhere, user: u }\n`.replace(
        "current-context: first\n",
        "",
      ),
    );
    expect(() => useKubeconfig({ kubeconfig: orphan, context: "orphan" })).toThrow(
      new KubeconfigError(`kubeconfig ${orphan}: context "orphan" names no known cluster`),
    );
    expect(process.env.KUBECONFIG).toBeUndefined();
  });

  it("says where it looked when there is no kubeconfig at all", () => {
    process.env.HOME = dir;
    const serviceHost = process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBERNETES_SERVICE_HOST;
    try {
      expect(() => useKubeconfig()).toThrow(
        new KubeconfigError(
          `no kubeconfig: $KUBECONFIG is unset, ${dir}/.kube/config does not exist and this is not a pod (KUBERNETES_SERVICE_HOST is unset)`,
        ),
      );
    } finally {
      if (serviceHost !== undefined) process.env.KUBERNETES_SERVICE_HOST = serviceHost;
    }
  });
});

describe("resolveOptions", () => {
  it("defaults to this module's store in pepr-system and knows its capabilities", () => {
    expect(resolveOptions({})).toEqual({
      name: "pepr-hello-pepr-store-resources-store",
      namespace: "pepr-system",
      capability: undefined,
      known: MODULE_CAPABILITIES,
    });
  });

  it("reads no package.json when given the uuid and the capabilities (the watcher's pod has none)", () => {
    const contract = jest.requireActual("../../store/contract");
    jest.spyOn(contract, "moduleUUID").mockImplementation(() => {
      throw new Error("cannot find the hello-pepr-store-resources package.json above /app");
    });
    expect(resolveOptions({ uuid: "m", capabilities: ["c"] })).toEqual({
      name: "pepr-m-store",
      namespace: "pepr-system",
      capability: undefined,
      known: ["c"],
    });
  });

  it("knows no capability names for another module's uuid", () => {
    expect(resolveOptions({ uuid: "other", capability: "x" })).toEqual({
      name: "pepr-other-store",
      namespace: "pepr-system",
      capability: "x",
      known: [],
    });
  });
});

describe("translate", () => {
  const want = resolveOptions({});
  const target = { source: "/k", context: "ctx", server: "https://127.0.0.1:6443" };
  /** A failure as kubernetes-fluent-client's fetch returns it (fetch.ts FetchResponse). */
  const response = (status: number, data: unknown, e?: unknown) => ({
    ok: false,
    status,
    statusText: status === 403 ? "Forbidden" : "Internal Server Error",
    data,
    headers: new Headers(),
    ...(e !== undefined ? { e } : {}),
  });

  it("makes a 403 a permission error naming the verb, resource and namespace", () => {
    const said = 'peprstores.pepr.dev "x" is forbidden: User "u" cannot get resource "peprstores"';
    const err = translate(response(403, { kind: "Status", message: said }), "get", want, target);
    expect(err).toBeInstanceOf(PermissionDeniedError);
    expect(err).toMatchObject({
      code: "PERMISSION_DENIED",
      verb: "get",
      resource: "peprstores.pepr.dev",
      namespace: "pepr-system",
    });
    expect(err.message).toBe(
      `permission denied: cannot get peprstores.pepr.dev "pepr-hello-pepr-store-resources-store" in namespace pepr-system (context "ctx"); the API server said: ${said}`,
    );
  });

  it("makes a 401 an unauthorized error", () => {
    const failure = response(401, "Unauthorized");
    const err = translate(failure, "list", want, target);
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect(err.cause).toBe(failure);
    expect(err.message).toBe(
      'unauthorized: https://127.0.0.1:6443 did not accept the credentials of context "ctx" (/k) to list peprstores.pepr.dev in namespace pepr-system',
    );
  });

  it("makes a failed connection an unreachable error with the innermost cause", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6443"), {
      code: "ECONNREFUSED",
    });
    const fetchFailed = new TypeError("fetch failed", { cause: refused });
    const err = translate(response(400, undefined, fetchFailed), "get", want, target);
    expect(err).toBeInstanceOf(ClusterUnreachableError);
    expect(err.cause).toBe(fetchFailed);
    expect(err.message).toBe(
      'cannot reach the API server https://127.0.0.1:6443 (context "ctx" of /k): connect ECONNREFUSED 127.0.0.1:6443',
    );
  });

  it("keeps the status of any other failure", () => {
    const failure = response(500, { kind: "Status", message: "etcd down" });
    const err = translate(failure, "get", want, target);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.cause).toBe(failure);
    expect(err).toMatchObject({ code: "API_ERROR", status: 500 });
    expect(err.message).toBe(
      'get peprstores.pepr.dev "pepr-hello-pepr-store-resources-store" in namespace pepr-system at https://127.0.0.1:6443: HTTP 500 Internal Server Error; the API server said: etcd down',
    );
  });

  it("wraps a thrown Error as the cause", () => {
    const thrown = new Error("No currently active cluster");
    const err = translate(thrown, "get", want, target);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.cause).toBe(thrown);
    expect(err).toMatchObject({ status: undefined });
    expect(err.message).toBe(
      'get peprstores.pepr.dev "pepr-hello-pepr-store-resources-store" in namespace pepr-system at https://127.0.0.1:6443: No currently active cluster',
    );
  });

  it("names anything else thrown, and keeps a StoreError as it is", () => {
    const err = translate("boom", "watch", want, target);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.cause).toBe("boom");
    expect(err.message).toBe(
      "watch peprstores.pepr.dev in namespace pepr-system at https://127.0.0.1:6443: boom",
    );
    // a status that is not a number is not a response
    const notResponse = { ok: false, status: "500" };
    expect(translate(notResponse, "list", want, target).message).toBe(
      "list peprstores.pepr.dev in namespace pepr-system at https://127.0.0.1:6443: [object Object]",
    );
    expect(translate(err, "get", want, target)).toBe(err);
    expect(translate(null, "list", want, target).message).toBe(
      "list peprstores.pepr.dev in namespace pepr-system at https://127.0.0.1:6443: null",
    );
    // an Error with a status is not a response either: it has no `ok: false`
    const withStatus = Object.assign(new Error("teapot"), { status: 418 });
    expect(translate(withStatus, "list", want, target).message).toBe(
      "list peprstores.pepr.dev in namespace pepr-system at https://127.0.0.1:6443: teapot",
    );
  });
});
