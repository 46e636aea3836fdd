// The store CLI (`hello-pepr-store-resources store`) run as a user runs it, as a child process,
// against the local control plane: what it prints once the module wrote its keys, what --watch
// reports while they land, and the message and exit code of each failure.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";

import {
  applyObject,
  ControlPlane,
  createConfigMap,
  getStore,
  patchStore,
  PeprStoreObject,
  peprStoreObject,
  waitForPermission,
} from "../../cluster";
import { PEPR_STORE_RESOURCE, STORE_NAMESPACE } from "../../store/contract";
import { grantInNamespace, serviceAccountKubeconfig } from "../shared-cluster/service-account";
import {
  CAPABILITY,
  MODULE_NAMESPACE,
  OBSERVED_TIMEOUT_MS,
  PLACEHOLDER,
  Scenario,
  startScenario,
} from "./scenario";
import { buildStoreCli, CliProcess, runCli, startCli } from "./run-store-cli";
import { cleanSharedCluster } from "./shared-cluster";

/** Prefix of every message the CLI writes on stderr. */
const ME = "hello-pepr-store-resources:";
const STORE = "pepr-hello-pepr-store-resources-store";
/** The capability's keys once `observe` was created: the mission, written out. */
const OBSERVED_ITEMS = { a: "1", b: "2", c: "3", "https://observed": "yay" };

/** A scratch directory for kubeconfigs, removed by the returned function. */
function scratch(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), "hpsr-cli-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Creates ServiceAccount `name` in `default`: a kubeconfig with a fresh token, context `name`. */
const serviceAccount = (cp: ControlPlane, name: string) =>
  serviceAccountKubeconfig(cp, name, { context: name });

beforeAll(() => {
  buildStoreCli();
});

describe("store CLI after observe was created", () => {
  let s: Scenario;
  let watch: CliProcess | undefined;
  let createdAt: number;
  let watchLines: string[];
  let watchStderr: string[];
  let watchExit: { code: number | null; signal: NodeJS.Signals | null };

  beforeAll(async () => {
    s = await startScenario();
    // --watch from before the module writes anything: the store holds only the placeholder.
    watch = startCli(["store", "--watch"], { kubeconfig: s.cp.kubeconfig });
    await watch.waitForLines("stderr", '"watching"', lines =>
      lines.some(l => l.includes(" watching PeprStore ")),
    );
    createdAt = Date.now();
    await createConfigMap(s.cp, MODULE_NAMESPACE, "observe");
    await s.mod.waitForLog(`watcher "observed"`, r => r.msg === "observed", OBSERVED_TIMEOUT_MS);
    watchLines = await watch.waitForLines(
      "stdout",
      "four added keys",
      lines => lines.length >= 4,
      OBSERVED_TIMEOUT_MS,
    );
    const ended = await watch.stop("SIGTERM");
    watchExit = { code: ended.code, signal: ended.signal };
    watchLines = ended.stdout.split("\n").filter(l => l !== "");
    watchStderr = ended.stderr.split("\n").filter(l => l !== "");
  });

  afterAll(async () => {
    await watch?.stop("SIGKILL");
    await s?.stop();
  });

  /** The CR as kubectl sees it, to fill the resourceVersion and flush time into expectations. */
  async function storeCR(): Promise<PeprStoreObject> {
    const cr = await getStore(s.cp);
    if (!cr) throw new Error(`PeprStore ${STORE} is missing`);
    return cr;
  }

  it("prints exactly a=1, b=2, c=3, https://observed=yay as a table with the CR's version and flush time", async () => {
    const cr = await storeCR();
    const result = await runCli(["store"], { kubeconfig: s.cp.kubeconfig });
    const flush = new Date(Number(cr.metadata.labels?.["pepr.dev-cacheID"])).toISOString();
    expect(result).toEqual({
      code: 0,
      signal: null,
      stderr: "",
      stdout: [
        `PeprStore pepr-system/${STORE} (resourceVersion ${cr.metadata.resourceVersion}), last flush ${flush}`,
        "",
        "CAPABILITY                  KEY               VALUE",
        "hello-pepr-store-resources  a                 1",
        "hello-pepr-store-resources  b                 2",
        "hello-pepr-store-resources  c                 3",
        "hello-pepr-store-resources  https://observed  yay",
        "",
      ].join("\n"),
    });
    expect((await storeCR()).metadata.resourceVersion).toBe(cr.metadata.resourceVersion);
  });

  it("prints the same as JSON with -o json, the placeholder hidden", async () => {
    const cr = await storeCR();
    const result = await runCli(["store", "-o", "json"], { kubeconfig: s.cp.kubeconfig });
    expect([result.code, result.stderr]).toEqual([0, ""]);
    expect(JSON.parse(result.stdout)).toEqual({
      name: STORE,
      namespace: STORE_NAMESPACE,
      resourceVersion: cr.metadata.resourceVersion,
      lastFlush: new Date(Number(cr.metadata.labels?.["pepr.dev-cacheID"])).toISOString(),
      capabilities: { [CAPABILITY]: { items: OBSERVED_ITEMS, unmigrated: {} } },
      unrecognized: {},
    });
    // ... which kubectl shows with prefixes and the placeholder
    expect(cr.data).toEqual({
      ...PLACEHOLDER,
      ...Object.fromEntries(
        Object.entries(OBSERVED_ITEMS).map(([k, v]) => [`${CAPABILITY}-v2-${k}`, v]),
      ),
    });
  });

  it("runs as `npx hello-pepr-store-resources` from the repo root, with --capability and -o yaml", async () => {
    const result = await runCli(["store", "--capability", CAPABILITY, "-o", "yaml"], {
      kubeconfig: s.cp.kubeconfig,
      npx: true,
    });
    expect([result.code, result.stderr]).toEqual([0, ""]);
    expect(parseYaml(result.stdout)).toMatchObject({
      name: STORE,
      capabilities: { [CAPABILITY]: { items: OBSERVED_ITEMS, unmigrated: {} } },
    });
  });

  it("--watch reported the four keys as they landed, one timestamped line each, and exited 0 on SIGTERM", () => {
    expect(watchExit).toEqual({ code: 0, signal: null });
    expect(watchStderr).toEqual([
      expect.stringMatching(
        new RegExp(
          `^${ME} watching PeprStore pepr-system/${STORE} from resourceVersion \\d+; stop with Ctrl-C$`,
        ),
      ),
    ]);
    const parsed = watchLines.map(line => /^(\S+) (.*)$/.exec(line));
    expect(parsed.map(m => m?.[2])).toEqual([
      `added   ${CAPABILITY} a=1`,
      `added   ${CAPABILITY} b=2`,
      `added   ${CAPABILITY} c=3`,
      `added   ${CAPABILITY} https://observed=yay`,
    ]);
    for (const m of parsed) {
      const time = Date.parse(m?.[1] ?? "");
      expect(new Date(time).toISOString()).toBe(m?.[1]);
      expect(time).toBeGreaterThanOrEqual(createdAt);
    }
  });

  it("exits 6 for an unknown capability and lists the ones present", async () => {
    const result = await runCli(["store", "--capability", "nope"], { kubeconfig: s.cp.kubeconfig });
    expect(result).toEqual({
      code: 6,
      signal: null,
      stdout: "",
      stderr: `${ME} capability "nope" not found in PeprStore ${STORE} (namespace pepr-system); capabilities: ${CAPABILITY}\n`,
    });
  });

  it("exits 7 naming the verb and resource for a ServiceAccount without rights", async () => {
    const sa = await serviceAccount(s.cp, "nobody");
    const result = await runCli(["store"], { kubeconfig: sa.file }).finally(sa.remove);
    expect(result).toEqual({
      code: 7,
      signal: null,
      stdout: "",
      stderr:
        `${ME} permission denied: cannot get peprstores.pepr.dev "${STORE}" in namespace pepr-system ` +
        `(context "nobody"); the API server said: peprstores.pepr.dev "${STORE}" is forbidden: User ` +
        `"system:serviceaccount:default:nobody" cannot get resource "peprstores" in API group "pepr.dev" ` +
        `in the namespace "pepr-system"\n`,
    });
  });

  it("exits 7 for --watch when the ServiceAccount may get and list but not watch", async () => {
    const sa = await serviceAccount(s.cp, "reader");
    const { file: kubeconfig } = sa;
    await grantInNamespace(s.cp, "reader", {
      namespace: STORE_NAMESPACE,
      verbs: ["get", "list"],
      resource: PEPR_STORE_RESOURCE,
    });
    await waitForPermission(s.cp, {
      verb: "list",
      resource: "peprstores.pepr.dev",
      namespace: STORE_NAMESPACE,
      user: "system:serviceaccount:default:reader",
    });
    expect((await runCli(["store", "-o", "json"], { kubeconfig })).code).toBe(0);
    const result = await runCli(["store", "--watch"], { kubeconfig }).finally(sa.remove);
    expect([result.code, result.stderr]).toEqual([
      7,
      `${ME} permission denied: cannot watch peprstores.pepr.dev in namespace pepr-system (context "reader")\n`,
    ]);
  });
});

describe("store CLI without a reachable cluster", () => {
  let files: ReturnType<typeof scratch>;
  let kubeconfig: string;
  let port: number;

  beforeAll(async () => {
    files = scratch();
    // a port that was free a moment ago: nothing listens there
    const server = net.createServer();
    await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as net.AddressInfo).port;
    await new Promise(resolve => server.close(resolve));
    kubeconfig = path.join(files.dir, "closed.kubeconfig");
    writeFileSync(
      kubeconfig,
      toYaml({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "closed", cluster: { server: `https://127.0.0.1:${port}` } }],
        users: [{ name: "nobody", user: { token: "none" } }],
        contexts: [{ name: "closed", context: { cluster: "closed", user: "nobody" } }],
        "current-context": "closed",
      }),
    );
  });

  afterAll(() => files?.remove());

  it("exits 3 naming the API server when KUBECONFIG points at a closed port", async () => {
    expect(await runCli(["store"], { kubeconfig })).toEqual({
      code: 3,
      signal: null,
      stdout: "",
      stderr: `${ME} cannot reach the API server https://127.0.0.1:${port} (context "closed" of ${kubeconfig}): connect ECONNREFUSED 127.0.0.1:${port}\n`,
    });
  });

  it("exits 3 listing the contexts when --context is not in the kubeconfig", async () => {
    const result = await runCli(["store", "--kubeconfig", kubeconfig, "--context", "nope"]);
    expect([result.code, result.stderr]).toEqual([
      3,
      `${ME} context "nope" is not in kubeconfig ${kubeconfig}; contexts: closed\n`,
    ]);
  });

  it("exits 2 with the synopsis on bad usage", async () => {
    const result = await runCli(["store", "-o", "xml"], { kubeconfig });
    expect(result.code).toBe(2);
    expect(result.stderr.split("\n")).toEqual([
      `${ME} -o/--output must be one of table, json, yaml, not "xml"`,
      "Usage: hello-pepr-store-resources store [--capability NAME] [--watch] [-o table|json|yaml] [--kubeconfig PATH] [--context NAME] [--uuid UUID]",
      "",
    ]);
  });
});

describe("store CLI on a control plane without the PeprStore CRD", () => {
  let cp: ControlPlane;

  beforeAll(async () => {
    // the shared control plane without the CRD and pepr-system (the next clean installs them)
    cp = await cleanSharedCluster({ bare: true });
  });

  it("exits 4 and says the CRD is not installed", async () => {
    expect(await runCli(["store"], { kubeconfig: cp.kubeconfig })).toEqual({
      code: 4,
      signal: null,
      stdout: "",
      stderr:
        `${ME} PeprStore ${STORE}: the CRD peprstores.pepr.dev is not installed (${cp.server} does not ` +
        "serve pepr.dev/v1 peprstores; the Pepr watcher and `npx pepr deploy` install it)\n",
    });
  });
});

/** JSON pointer escaping of a key, as Pepr puts it on the wire (storage.ts v2StoreKey). */
const escapeToken = (key: string): string => key.replace(/~/g, "~0").replace(/\//g, "~1");

describe("store CLI on a control plane where no watcher ran", () => {
  let cp: ControlPlane;
  /** Keys written through JSON Patch paths exactly as Pepr sends them, per capability. */
  const written = {
    tricky: {
      "https://x": "1",
      "a~b": "2",
      "x~1y": "3",
      "k-v2-z": "4",
      empty: "",
      ключ: "значение ✓",
    },
    "tricky-two": { k: "overlaps tricky" },
  };

  beforeAll(async () => {
    cp = await cleanSharedCluster();
    for (const name of ["pepr-other-store", "pepr-tricky-store"]) {
      const header = peprStoreObject(name);
      const labels = { "pepr.dev-cacheID": "1795000000000" };
      await applyObject(cp, {
        ...header,
        metadata: { ...header.metadata, labels },
        data: PLACEHOLDER,
      });
    }
    const ops = [
      ...Object.entries(written).flatMap(([capability, keys]) =>
        Object.entries(keys).map(([key, value]) => ({
          op: "add",
          path: `/data/${capability}-v2-${escapeToken(key)}`,
          value,
        })),
      ),
      { op: "add", path: "/data/tricky-legacy", value: "old" },
      { op: "add", path: "/data/weird", value: "w" },
    ];
    await patchStore(cp, { name: "pepr-tricky-store" }, ops);
  });

  it("exits 5 when the module's store does not exist and lists the PeprStores that do", async () => {
    expect(await runCli(["store"], { kubeconfig: cp.kubeconfig })).toEqual({
      code: 5,
      signal: null,
      stdout: "",
      stderr: `${ME} PeprStore ${STORE}: not found in namespace pepr-system; PeprStores in pepr-system: pepr-other-store, pepr-tricky-store\n`,
    });
  });

  it("reads another module's store by --uuid and gets back exactly the keys written, escapes resolved once", async () => {
    const result = await runCli(["store", "--uuid", "tricky", "-o", "json"], {
      kubeconfig: cp.kubeconfig,
    });
    expect([result.code, result.stderr]).toEqual([0, ""]);
    expect(JSON.parse(result.stdout)).toEqual({
      name: "pepr-tricky-store",
      namespace: STORE_NAMESPACE,
      resourceVersion: expect.stringMatching(/^\d+$/),
      lastFlush: "2026-11-18T11:06:40.000Z",
      capabilities: {
        tricky: { items: written.tricky, unmigrated: { legacy: "old" } },
        "tricky-two": { items: written["tricky-two"], unmigrated: {} },
      },
      unrecognized: { weird: "w" },
    });
  });
});
