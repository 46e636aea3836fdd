// The module as the controller image runs it, before any node: Pepr's controller entrypoint
// (`node /app/node_modules/pepr/dist/controller.js <hash>`) under runc as 65532, with the files a
// kubelet would mount from what `npx pepr build` generates (the -module Secret on /app/load, the
// TLS Secret on /etc/certs, a ServiceAccount token), against the local control plane.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import {
  applyObject,
  assertPortsFree,
  buildControllerImage,
  buildModule,
  ControlPlane,
  createConfigMap,
  ensureNamespace,
  getStore,
  ModuleProcess,
  startControlPlane,
  STARTUP_COMPLETE,
} from "../../../cluster";
import { watchProcess } from "../../../cluster/local-watcher";
import { WATCHER } from "../../../cluster/ports.cjs";
import {
  BUILD_TIMEOUT_MS,
  deleteContainer,
  openLayout,
  startInBundle,
  unpackBundle,
} from "./image-bundle";
import { STORE_NAMESPACE } from "../../../store/contract";
import { serviceAccountToken } from "../../shared-cluster/service-account";
import {
  CACHE_ID_OP,
  EXPECTED_DATA,
  EXPECTED_OPS,
  MODULE_NAMESPACE,
  observedRecords,
  patchesSince,
  waitForObserved,
} from "../scenario";
import { manifestObjects } from "../manifest-objects";

const CONTAINER = `hpsr-image-module-${process.pid}`;
const SERVICE_ACCOUNT = "pepr-hello-pepr-store-resources";
/** Where the kubelet mounts a pod's ServiceAccount token, CA and namespace. */
const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
/** How long to wait for another run's watcher to release port 3000 (as long as for its node). */
const PORT_WAIT_MS = 600_000;

interface K8sDoc {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: {
    template: {
      spec: { containers: { args: string[]; env: { name: string; value: string }[] }[] };
    };
  };
}

/** Writes a Secret's data as the kubelet does for a secret volume: one file per key. */
function secretVolume(secret: K8sDoc, dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const [key, value] of Object.entries(secret.data ?? {})) {
    writeFileSync(path.join(dir, key), Buffer.from(value, "base64"), { mode: 0o644 });
  }
  return dir;
}

describe("the controller image running the module (runc, local control plane, no node)", () => {
  let cp: ControlPlane;
  let dir: string;
  let rootfs: string;
  let mod: ModuleProcess;
  let hash: string;

  beforeAll(async () => {
    const image = await buildControllerImage({ onProgress: () => undefined });
    const docs = manifestObjects<K8sDoc>(buildModule().manifest);
    const byName = (name: string) => docs.find(d => d.metadata.name === name) as K8sDoc;
    cp = await startControlPlane();
    dir = mkdtempSync(path.join(os.tmpdir(), "hpsr-image-module-"));
    chmodSync(dir, 0o755); // the container's user reads the mounted files
    // Everything `pepr deploy` applies except the Deployment and its Service (no node to run them).
    const applied = docs.filter(d => !["Deployment", "Service"].includes(d.kind));
    for (const doc of applied) await applyObject(cp, doc);
    const { token, caData } = await serviceAccountToken(cp, SERVICE_ACCOUNT, {
      namespace: STORE_NAMESPACE,
      create: false,
    });
    const sa = secretVolume(
      {
        kind: "Secret",
        metadata: { name: "sa" },
        data: {
          token: Buffer.from(token).toString("base64"),
          "ca.crt": caData,
          namespace: Buffer.from("pepr-system").toString("base64"),
        },
      },
      path.join(dir, "sa"),
    );
    const container = byName(`${SERVICE_ACCOUNT}-watcher`).spec!.template.spec.containers[0];
    hash = container.args[1];
    const layout = openLayout(image.archive, path.join(dir, "layout"));
    rootfs = unpackBundle(layout, image.name, path.join(dir, "bundle"));
    // runc shares the host's network, and so port 3000 with another run's watcher on this
    // machine: wait for it, as the node lock waits for another run's node (10 min)
    await assertPortsFree([WATCHER], PORT_WAIT_MS);
    const server = new URL(cp.server);
    const child = startInBundle(path.join(dir, "bundle"), CONTAINER, container.args, {
      env: {
        ...Object.fromEntries(container.env.map(e => [e.name, e.value])),
        KUBERNETES_SERVICE_HOST: server.hostname,
        LOG_LEVEL: "debug", // "Controller startup complete" is a debug record
        KUBERNETES_SERVICE_PORT: server.port,
      },
      mounts: [
        {
          source: secretVolume(byName(`${SERVICE_ACCOUNT}-module`), path.join(dir, "load")),
          destination: "/app/load",
        },
        {
          source: secretVolume(byName(`${SERVICE_ACCOUNT}-tls`), path.join(dir, "certs")),
          destination: "/etc/certs",
        },
        { source: sa, destination: SA_DIR },
      ],
      hostNetwork: true,
    });
    mod = watchProcess(child, false);
    await mod.waitForLog(`watcher "${STARTUP_COMPLETE}"`, r => r.msg === STARTUP_COMPLETE);
  }, BUILD_TIMEOUT_MS + PORT_WAIT_MS);

  afterAll(async () => {
    await mod?.stop();
    deleteContainer(CONTAINER);
    await cp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("checked the module's sha256 and wrote it to /app as 65532 before forking it", () => {
    const written = statSync(path.join(rootfs, "app", `module-${hash}.js`));
    expect({ uid: written.uid, gid: written.gid }).toEqual({ uid: 65532, gid: 65532 });
    // every line is a pino record: no stack trace, no Node warning, no loader error
    expect(mod.otherOutput.filter(line => !line.startsWith("{"))).toEqual([]);
  });

  it("writes the four keys once `observe` is created, as the ServiceAccount, and logs observed", async () => {
    await ensureNamespace(cp, MODULE_NAMESPACE);
    const createdAt = Date.now();
    await createConfigMap(cp, MODULE_NAMESPACE, "observe");
    await waitForObserved(mod, 1);
    expect(observedRecords(mod)).toHaveLength(1);
    expect((await getStore(cp))?.data).toEqual(EXPECTED_DATA);
    const patches = patchesSince(cp, createdAt);
    expect(patches.map(e => [e.user.username, e.responseStatus?.code])).toEqual([
      [`system:serviceaccount:pepr-system:${SERVICE_ACCOUNT}`, 200],
    ]);
    expect(patches[0].requestObject).toEqual([...EXPECTED_OPS, CACHE_ID_OP]);
  });
});
