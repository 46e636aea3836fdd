// The local cluster's node (startControlPlane({ node: true })): a Deployment shaped like Pepr's
// watcher runs from a locally built image, its pod reaches the API server through the kubernetes
// Service with its ServiceAccount token and a pod through a Service's ClusterIP, the Deployment
// replaces a deleted pod, `kubectl logs`, `kubectl exec` and `kubectl port-forward` work, and
// stopping leaves nothing on the machine. These tests fail, never skip, when the node cannot
// start here.
import { execFileSync, spawn } from "node:child_process";
import {
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";

import type { V1Deployment, V1Pod, V1PodSpec, V1Service } from "@kubernetes/client-node";

import {
  applyObject,
  buildContainerd,
  buildControlPlane,
  buildModule,
  ControlPlane,
  createObject,
  deleteObject,
  kubectl,
  loadImageArchive,
  namespaceObject,
  objectApi,
  ReadyLine,
  repoRoot,
  requireNode,
  startControlPlane,
  waitFor,
} from "../../../cluster";
import { NODE_START_TIMEOUT_MS } from "../../../cluster/controlplane";
import { makeTLSPair } from "../../../cluster/local-watcher";
import { NodeInfo, writeImageArchive } from "../../../cluster/node";
import { grantInNamespace } from "../../shared-cluster/service-account";
import { report } from "../scenario";
import { cleanStopCheck, processesNaming, stopCheck } from "./host-state";
import { manifestObjects } from "../manifest-objects";

const NAMESPACE = "node-e2e";
const IMAGE = "localhost/hello-pepr-store-resources/node-image";
const TAG = "e2e";
/** Pepr's readiness probe waits 10 s before its first check; scheduling and start come on top. */
const READY_TIMEOUT_MS = 90_000;
/** beforeAll: image and module builds, the node start (which may wait for another run's node), the pod. */
const SETUP_TIMEOUT_MS = NODE_START_TIMEOUT_MS + 300_000;
/** The unprivileged user the "cannot run containers" case runs as. */
const NOBODY = 65534;

/** The watcher Deployment `npx pepr build` wrote, with our image, in our namespace. */
function watcherDeployment(): V1Deployment {
  const docs = manifestObjects<V1Deployment>(buildModule(true).manifest);
  const deploy = docs.find(d => d.kind === "Deployment");
  if (!deploy?.metadata) throw new Error("no Deployment in the module's manifest");
  deploy.metadata.namespace = NAMESPACE;
  podSpec(deploy).containers[0].image = `${IMAGE}:${TAG}`;
  return deploy;
}

function podSpec(deploy: V1Deployment): V1PodSpec {
  const spec = deploy.spec?.template.spec;
  if (!spec) throw new Error(`Deployment ${deploy.metadata?.name} has no pod template spec`);
  return spec;
}

/** Builds test/e2e/in-cluster/node-image (static Go HTTPS server) into an OCI archive. */
function buildImage(dir: string): string {
  const rootfs = path.join(dir, "rootfs");
  mkdirSync(rootfs);
  execFileSync(
    "go",
    [
      "build",
      "-trimpath",
      "-o",
      path.join(rootfs, "server"),
      "./test/e2e/in-cluster/node-image/main.go",
    ],
    { cwd: repoRoot(), env: { ...process.env, CGO_ENABLED: "0" }, stdio: "inherit" },
  );
  const archive = path.join(dir, "node-image.tar");
  writeImageArchive(rootfs, archive, TAG, "/server");
  return archive;
}

/**
 * `kubectl port-forward pod/<pod> :3000`: resolves with the local port it prints once it listens,
 * and the means to stop it.
 */
async function portForward(
  cp: ControlPlane,
  pod: string,
): Promise<{ port: number; stop: () => void }> {
  const child = spawn(cp.kubectl, ["port-forward", "-n", NAMESPACE, `pod/${pod}`, ":3000"], {
    env: { ...process.env, KUBECONFIG: cp.kubeconfig, KUBERC: "off" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const stop = (): void => void child.kill("SIGTERM");
  const lines = readline.createInterface({ input: child.stdout });
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", code => reject(new Error(`kubectl port-forward exited ${code}: ${stderr}`))),
  );
  const listening = new Promise<number>(resolve =>
    lines.on("line", line => {
      const m = /^Forwarding from 127\.0\.0\.1:(\d+) -> 3000$/.exec(line);
      if (m) resolve(Number(m[1]));
    }),
  );
  try {
    return { port: await Promise.race([listening, exited]), stop };
  } catch (err) {
    stop();
    throw err;
  }
}

/** GET https://<host>:<port><path> from this host (the pod's certificate is self-signed). */
function getFromPod(
  host: string,
  urlPath: string,
  port = 3000,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      { host, port, path: urlPath, rejectUnauthorized: false, timeout: 15_000 },
      res => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`GET ${urlPath} from ${host}:${port}: timeout`)));
  });
}

interface PodState {
  name: string;
  ip: string;
  ready: boolean;
}

async function watcherPods(cp: ControlPlane): Promise<PodState[]> {
  const { items } = await objectApi(cp).list<V1Pod>("v1", "Pod", NAMESPACE);
  return items
    .filter(p => !p.metadata?.deletionTimestamp)
    .map(p => ({
      name: p.metadata?.name ?? "",
      ip: p.status?.podIP ?? "",
      ready: (p.status?.conditions ?? []).some(c => c.type === "Ready" && c.status === "True"),
    }));
}

function waitForReadyPod(cp: ControlPlane, not?: string): Promise<PodState> {
  return waitFor(
    `a Ready pod of the watcher Deployment${not ? ` other than ${not}` : ""}`,
    async () => (await watcherPods(cp)).find(p => p.ready && p.name !== not),
    READY_TIMEOUT_MS,
    500,
  );
}

describe("the local cluster's node", () => {
  let cp: ControlPlane | undefined;
  let node: NodeInfo;
  let dataDir: string;
  let workDir: string;
  let pod: PodState;

  beforeAll(async () => {
    workDir = mkdtempSync(path.join(os.tmpdir(), "hpsr-node-e2e-"));
    dataDir = path.join(workDir, "cluster");
    const archive = buildImage(workDir);
    const deploy = watcherDeployment(); // npx pepr build, if stale, before the node starts
    const starting = Date.now();
    cp = await startControlPlane({ node: true, dataDir });
    node = requireNode(cp.local); // throws, naming what is missing, when there is no node
    report("start to node Ready (startControlPlane with node)", Date.now() - starting);
    loadImageArchive(node, archive, IMAGE);

    const { key, cert } = makeTLSPair(workDir);
    const sa = podSpec(deploy).serviceAccountName ?? "default";
    const [tlsSecret, moduleSecret] = (podSpec(deploy).volumes ?? []).map(
      v => v.secret?.secretName ?? "",
    );
    await createObject(cp, namespaceObject(NAMESPACE));
    const inNamespace = (name: string) => ({ name, namespace: NAMESPACE });
    await createObject(cp, { apiVersion: "v1", kind: "ServiceAccount", metadata: inNamespace(sa) });
    await grantInNamespace(cp, sa, {
      namespace: NAMESPACE,
      verbs: ["get"],
      resource: "pods",
      serviceAccountNamespace: NAMESPACE,
    });
    const base64 = (data: string | Buffer) => Buffer.from(data).toString("base64");
    await createObject(cp, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: inNamespace(tlsSecret),
      type: "kubernetes.io/tls",
      data: { "tls.crt": base64(readFileSync(cert)), "tls.key": base64(readFileSync(key)) },
    });
    await createObject(cp, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: inNamespace(moduleSecret),
      data: { "module.js": base64("//") },
    });
    const applied = Date.now();
    await applyObject(cp, deploy);
    pod = await waitForReadyPod(cp);
    report("watcher-shaped Deployment apply to pod Ready", Date.now() - applied);
  }, SETUP_TIMEOUT_MS);

  afterAll(async () => {
    await cp?.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  test("runs a Deployment shaped like Pepr's watcher from a loaded image to Ready, as uid/gid 65532", async () => {
    const deploy = await objectApi(cp!).read<V1Deployment>({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: watcherDeployment().metadata?.name ?? "", namespace: NAMESPACE },
    });
    expect(deploy.status?.readyReplicas).toBe(1);
    const container = podSpec(deploy).containers[0];
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      runAsGroup: 65532,
      runAsNonRoot: true,
      runAsUser: 65532,
    });
    expect(container.readinessProbe?.httpGet).toEqual({
      path: "/healthz",
      port: 3000,
      scheme: "HTTPS",
    });
    // the kubelet's log path, as a user reaches it
    const logs = await kubectl(cp!, ["logs", pod.name, "-n", NAMESPACE]);
    expect(logs.split("\n")[0]).toBe("serving https on :3000 as uid 65532 gid 65532");
  });

  test("a pod reaches the API server through the kubernetes Service with its token, and RBAC applies", async () => {
    const own = await getFromPod(pod.ip, `/kube/api/v1/namespaces/${NAMESPACE}/pods/${pod.name}`);
    expect(own.status).toBe(200);
    expect(JSON.parse(own.body)).toEqual({ status: 200, server: "https://10.0.0.1:443" });
    const secrets = await getFromPod(pod.ip, "/kube/api/v1/namespaces/kube-system/secrets");
    expect(JSON.parse(secrets.body)).toEqual({ status: 403, server: "https://10.0.0.1:443" });
  });

  test("kubectl logs shows the pod's requests", async () => {
    const logs = await kubectl(cp!, ["logs", pod.name, "-n", NAMESPACE]);
    expect(logs).toContain(`kube GET /api/v1/namespaces/${NAMESPACE}/pods/${pod.name} -> 200\n`);
    expect(logs).toContain("kube GET /api/v1/namespaces/kube-system/secrets -> 403\n");
  });

  test("kubectl exec runs a command in the pod's container, as uid/gid 65532", async () => {
    const out = await kubectl(cp!, ["exec", "-n", NAMESPACE, pod.name, "--", "/server", "whoami"]);
    expect(out).toBe("uid 65532 gid 65532\n");
  });

  test("kubectl port-forward reaches the pod's port 3000 from this host", async () => {
    const forward = await portForward(cp!, pod.name);
    try {
      expect(await getFromPod("127.0.0.1", "/healthz", forward.port)).toEqual({
        status: 200,
        body: "ok\n",
      });
    } finally {
      forward.stop();
    }
  });

  test("a pod reaches a pod through a Service's ClusterIP (kube-proxy, the bridge's hairpin)", async () => {
    // the Service `kubectl expose deployment --port=443 --target-port=3000` makes: the
    // Deployment's pods, by its selector
    const service = await createObject<V1Service>(cp!, {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "watcher-e2e", namespace: NAMESPACE },
      spec: {
        selector: watcherDeployment().spec?.selector.matchLabels,
        ports: [{ port: 443, targetPort: 3000, protocol: "TCP" }],
      },
    });
    const ip = service?.spec?.clusterIP;
    if (!ip) throw new Error("Service watcher-e2e: no ClusterIP");
    // kube-proxy writes the Service's rules once it sees the Service and its endpoints. Until
    // then the ClusterIP is routed off the node, where a network may answer (this machine's
    // answers any HTTPS request with a 404): wait for the Service's own 200.
    const answer = await waitFor(
      `GET https://${ip}:443/hostname from pod ${pod.name} to answer 200`,
      async () => {
        const r = await getFromPod(pod.ip, `/service/${ip}:443/hostname`);
        const reply = r.status === 200 ? (JSON.parse(r.body) as { status: number }) : undefined;
        return reply?.status === 200 ? reply : undefined;
      },
      120_000,
      500,
    );
    expect(answer).toEqual({ status: 200, body: `${pod.name}\n` });
  });

  test("the Deployment replaces a deleted pod", async () => {
    const deleted = Date.now();
    const podObject = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: pod.name, namespace: NAMESPACE },
    };
    expect(await deleteObject(cp!, podObject)).toBe(true);
    const replacement = await waitForReadyPod(cp!, pod.name);
    report("pod delete to replacement Ready", Date.now() - deleted);
    expect(replacement.name).not.toBe(pod.name);
    pod = replacement;
  });

  test("stopping leaves no mount, netns, iptables chain, process or bridge behind", async () => {
    const stopping = Date.now();
    await cp!.stop();
    report("stop with the node (pods removed, machine restored)", Date.now() - stopping);
    const mounts = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .filter(l => l.includes(dataDir));
    expect(mounts).toEqual([]);
    const netns = existsSync("/run/netns")
      ? readdirSync("/run/netns").filter(n => n.startsWith("cni-"))
      : [];
    expect(netns).toEqual([]);
    expect(processesNaming(dataDir)).toEqual([]);
    // Checked by the control plane before it let another run's node start (machine-wide lock):
    // chains, the bridge, fixed paths, cgroups and sysctls are shared by every run.
    expect(stopCheck(dataDir)).toEqual(cleanStopCheck());
    expect(existsSync("/var/lib/hello-pepr-store-resources")).toBe(false); // the records' folder
  });
});

describe("a machine that cannot run containers", () => {
  test("starts the control plane without the node and names what is missing in one line", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "hpsr-node-nobody-"));
    chownSync(dir, NOBODY, NOBODY);
    const binary = path.join(dir, "controlplane"); // the build cache may sit in root's 0700 home
    copyFileSync(buildControlPlane(false), binary);
    // uid 65534 without capabilities: not root, no CAP_SYS_ADMIN, no cgroup write access
    const child = spawn(
      "setpriv",
      [
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        "--clear-groups",
        "--inh-caps=-all",
        binary,
        "up",
        `--data-dir=${path.join(dir, "data")}`,
        "--node",
        `--containerd-dir=${buildContainerd(false)}`,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const exited = new Promise(resolve => child.on("close", resolve));
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    try {
      const ready = await new Promise<ReadyLine>((resolve, reject) => {
        readline.createInterface({ input: child.stdout }).on("line", line => {
          if (line.startsWith("{")) resolve(JSON.parse(line) as ReadyLine);
        });
        void exited.then(code => reject(new Error(`controlplane exited ${code}: ${stderr}`)));
      });
      expect(ready.node).toBeUndefined();
      expect(ready.nodeSkipped).toMatch(
        /^this machine cannot run containers: missing root \(running as uid 65534\), CAP_SYS_ADMIN, write access to the cgroup hierarchy \(mkdir \/sys\/fs\/cgroup\/\S+: permission denied\)/,
      );
      const lines = stderr.split("\n").filter(l => l.includes("node: not started"));
      expect(lines).toEqual([
        expect.stringContaining(
          `node: not started, ${ready.nodeSkipped}; the control plane runs without it`,
        ),
      ]);
    } finally {
      child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
