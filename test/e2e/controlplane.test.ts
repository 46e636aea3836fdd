// Smoke test of the local control plane: it serves, lets no one without the cluster's credentials
// into etcd or past kube-apiserver's health endpoints, keeps its data across a restart, can stop
// and start kube-apiserver while etcd runs, and refuses a port in use with its own exit code.
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";

import {
  applyObject,
  ControlPlane,
  ControlPlaneError,
  createObject,
  deleteObject,
  ensureNamespace,
  getStore,
  kubectl,
  namespaceObject,
  objectApi,
  peprStoreObject,
  readObject,
  refusalOf,
  startControlPlane,
  waitFor,
  waitForCrdEstablished,
} from "../../cluster";
import { PEPR_STORE_CRD } from "../../cluster/local-watcher";
import { PEPR_STORE_RESOURCE } from "../../store/contract";
import { cleanSharedCluster } from "./shared-cluster";

const local = process.env.USE_EXISTING_CLUSTER !== "true";
const describeLocal = local ? describe : describe.skip;

describeLocal("local control plane", () => {
  let dataDir: string;
  let cp: ControlPlane | undefined;

  beforeEach(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "hpsr-cp-smoke-"));
  });

  afterEach(async () => {
    await cp?.stop();
    cp = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("serves kube-apiserver v1.36.3 with the namespaces it creates itself", async () => {
    const started = (cp = await startControlPlane({ dataDir }));
    // the kubectl built with the control plane, as a user runs it, talks to this server
    const version = JSON.parse(await kubectl(started, ["version", "-o", "json"]));
    expect(version.serverVersion.gitVersion).toBe("v1.36.3");
    // kube-apiserver creates the system namespaces in a loop of its own, after /readyz says ok
    const names = await waitFor("the four namespaces", async () => {
      const listed = (await objectApi(started).list("v1", "Namespace")).items;
      return listed.length >= 4 ? listed.map(n => n.metadata?.name).sort() : undefined;
    });
    expect(names).toEqual(["default", "kube-node-lease", "kube-public", "kube-system"]);
  });

  it("etcd answers only a client with the cluster's certificate, which only the owner can read", async () => {
    const started = (cp = await startControlPlane({ dataDir }));
    const etcd = new URL(started.local?.etcd ?? "");
    expect([etcd.protocol, etcd.hostname]).toEqual(["https:", "127.0.0.1"]);
    const pki = path.join(dataDir, "pki");
    const ca = readFileSync(path.join(pki, "ca.crt"));
    // every key under /registry/, counted: what an anonymous local user once could read
    const body = JSON.stringify({
      key: Buffer.from("/registry/").toString("base64"),
      range_end: Buffer.from("/registry0").toString("base64"),
      count_only: true,
    });
    const rangeAs = (client: { cert?: Buffer; key?: Buffer }) =>
      new Promise<{ status?: number; count?: string; error?: string }>(resolve => {
        const req = https.request(
          {
            host: etcd.hostname,
            port: etcd.port,
            path: "/v3/kv/range",
            method: "POST",
            ca,
            ...client,
          },
          res => {
            let data = "";
            res.on("data", chunk => (data += chunk));
            res.on("end", () => resolve({ status: res.statusCode, count: JSON.parse(data).count }));
          },
        );
        req.on("error", (err: NodeJS.ErrnoException) => resolve({ error: err.code }));
        req.end(body);
      });
    expect(await rangeAs({})).toEqual({ error: "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED" });
    const client = {
      cert: readFileSync(path.join(pki, "apiserver-etcd-client.crt")),
      key: readFileSync(path.join(pki, "apiserver-etcd-client.key")),
    };
    const allowed = await rangeAs(client);
    expect(allowed.status).toBe(200);
    expect(Number(allowed.count)).toBeGreaterThan(0);
    expect(statSync(pki).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(pki, "apiserver-etcd-client.key")).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(dataDir, "controlplane.log")).mode & 0o777).toBe(0o600);
    // leaf certificates live one year, the CA ten, as kubeadm's
    const years = (file: string) =>
      Math.round(
        (Date.parse(new X509Certificate(readFileSync(path.join(pki, file))).validTo) - Date.now()) /
          (365 * 86_400_000),
      );
    expect(
      ["ca.crt", "etcd-server.crt", "apiserver-etcd-client.crt", "apiserver.crt"].map(years),
    ).toEqual([10, 1, 1, 1]);
  });

  it("kube-apiserver answers a request without credentials on its health endpoints only", async () => {
    const started = (cp = await startControlPlane({ dataDir }));
    const server = new URL(started.server);
    const ca = readFileSync(path.join(dataDir, "pki", "ca.crt"));
    const anonymousGet = (urlPath: string) =>
      new Promise<string>((resolve, reject) => {
        https
          .get({ host: server.hostname, port: server.port, path: urlPath, ca }, res => {
            let data = "";
            res.on("data", chunk => (data += chunk));
            res.on("end", () => resolve(`${res.statusCode} ${data.trim()}`));
          })
          .on("error", reject);
      });
    expect(await anonymousGet("/readyz")).toBe("200 ok");
    expect(await anonymousGet("/livez")).toBe("200 ok");
    expect(await anonymousGet("/healthz")).toBe("200 ok");
    for (const urlPath of ["/version", "/api/v1/namespaces/kube-system/secrets", "/apis"]) {
      expect(JSON.parse((await anonymousGet(urlPath)).slice(4))).toMatchObject({
        kind: "Status",
        code: 401,
        reason: "Unauthorized",
      });
    }
  });

  it("keeps namespaces, CRDs and custom resources across a restart", async () => {
    cp = await startControlPlane({ dataDir });
    expect(await ensureNamespace(cp, "pepr-system")).toBe(true);
    await applyObject(cp, PEPR_STORE_CRD);
    await waitForCrdEstablished(cp, PEPR_STORE_RESOURCE);
    const store = { ...peprStoreObject("smoke"), data: { "smoke-v2-https://kept": "yes" } };
    await createObject(cp, store);
    await cp.stop();

    cp = await startControlPlane({ dataDir });
    expect((await getStore(cp, "smoke"))?.data).toEqual({ "smoke-v2-https://kept": "yes" });
  });

  it("runs the namespace controller: a deleted namespace goes away", async () => {
    // the tier's shared control plane: it is the same binary, and this test neither stops it nor
    // leaves anything on it
    const shared = await cleanSharedCluster();
    expect(await ensureNamespace(shared, "short-lived")).toBe(true);
    // the serviceaccount and root-ca-cert-publisher controllers fill every new namespace
    for (const [kind, name] of [
      ["ConfigMap", "kube-root-ca.crt"],
      ["ServiceAccount", "default"],
    ]) {
      const object = { apiVersion: "v1", kind, metadata: { name, namespace: "short-lived" } };
      await waitFor(`${kind} short-lived/${name}`, () => readObject(shared, object));
    }
    expect(await deleteObject(shared, namespaceObject("short-lived"))).toBe(true);
    // the namespace controller empties it, then the API server removes it
    await waitFor(
      "namespace short-lived to be gone",
      async () => ((await readObject(shared, namespaceObject("short-lived"))) ? undefined : true),
      60_000,
    );
    expect(await refusalOf(objectApi(shared).read(namespaceObject("short-lived")))).toEqual({
      code: 404,
      message: 'namespaces "short-lived" not found',
    });
  });

  it("stops and starts kube-apiserver while etcd keeps the data", async () => {
    cp = await startControlPlane({ dataDir });
    expect(await ensureNamespace(cp, "survives")).toBe(true);
    await cp.stopAPIServer();
    // a client's request is refused at the port: no API server behind it
    const url = new URL("/api/v1/namespaces/survives", cp.server);
    await expect(objectApi(cp).read(namespaceObject("survives"))).rejects.toMatchObject({
      code: "ECONNREFUSED",
      message: `request to ${url} failed, reason: connect ECONNREFUSED ${url.host}`,
    });
    await cp.startAPIServer();
    expect((await readObject(cp, namespaceObject("survives")))?.metadata?.name).toBe("survives");
  });

  it("fails with exit code 3 and says so when the API server port is in use", async () => {
    const busy = net.createServer();
    await new Promise<void>(resolve => busy.listen(0, "127.0.0.1", resolve));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      const started = startControlPlane({ dataDir, port });
      await expect(started).rejects.toBeInstanceOf(ControlPlaneError);
      await expect(started).rejects.toMatchObject({
        exitCode: 3,
        message: expect.stringContaining(`kube-apiserver port 127.0.0.1:${port} is in use`),
      });
    } finally {
      busy.close();
    }
  });
});
