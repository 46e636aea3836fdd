// `npm start -- --local`, the README's fast inner loop, run as a user runs it: in its own process
// group, stopped with SIGINT (Ctrl-C), and with the failures a user can hit. The default
// `npm start` (npx pepr deploy on the node) is tested in in-cluster/start-deploy.test.ts.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

import { OBSERVED_DEADLINE_MS } from "../../capabilities/deadlines";
import { ControlPlane, deleteObject, objectApi, isStatus, repoRoot, waitFor } from "../../cluster";
import { PortInUseError, portFree, WATCHER } from "../../cluster/ports.cjs";
import {
  PEPR_STORE_RESOURCE,
  scheduleStoreName,
  STORE_NAMESPACE,
  storeName,
} from "../../store/contract";
import {
  announcements,
  controlPlanesUsing,
  ctrlC,
  ctrlCAndWait,
  groupAlive,
  itOnLocalCluster,
  killLeftovers,
  LOCAL,
  npmStart,
  npmStartRunning,
  observedLines,
  PATH_WITHOUT_GO,
  pidsWithArg,
  RUNNING_TEST_TIMEOUT_MS,
  splitStdout,
  START_DEADLINE_MS,
  watchersOf,
} from "./npm-start";
import { kubeconfigFor } from "../shared-cluster/kubeconfig";
import { EXPECTED_DATA, MODULE_NAMESPACE } from "./scenario";
import { cleanSharedCluster } from "./shared-cluster";

describe("npm start", () => {
  afterEach(killLeftovers);

  itOnLocalCluster(
    "--local: runs the watcher as a local process, prints observed and the PeprStore, keeps streaming the watcher's records (re-creating observe shows the next observed), stops on Ctrl-C",
    async () => {
      const r = await npmStartRunning();
      expect(watchersOf(r)).toHaveLength(1);
      const { observed, store } = splitStdout(r.stdout());
      expect(observed).toMatchObject({ level: 30, msg: "observed" });
      expect(store).toMatchObject({
        kind: "PeprStore",
        metadata: { name: "pepr-hello-pepr-store-resources-store" },
        data: EXPECTED_DATA,
      });
      const steps = r.stderr().match(/^\[\d\/6\] /gm) ?? [];
      expect(steps).toEqual(["[1/6] ", "[2/6] ", "[3/6] ", "[4/6] ", "[5/6] ", "[6/6] "]);
      expect(r.stderr().match(/^ {6}done in \d+\.\ds/gm)).toHaveLength(6);

      // It keeps streaming: observe re-created from outside shows the next observed.
      const kubeconfig = /export KUBECONFIG=(\S+)\n/.exec(r.stderr())?.[1] ?? "";
      expect(observedLines(r.stdout())).toHaveLength(1);
      const cp = { kubeconfig };
      const observe = {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "observe", namespace: MODULE_NAMESPACE },
      };
      expect(await deleteObject(cp, observe)).toBe(true);
      await objectApi(cp).create(observe);
      await waitFor(
        "a second observed record on npm start's stdout",
        () => (observedLines(r.stdout()).length === 2 ? true : undefined),
        OBSERVED_DEADLINE_MS,
      );
      const { streamed } = splitStdout(r.stdout());
      expect(streamed).toContainEqual(expect.objectContaining({ level: 30, msg: "observed" }));
      expect(streamed.every(rec => (rec as { level: number }).level >= 30)).toBe(true);

      // npm itself dies of the SIGINT at once, as in a terminal; the demo then stops the watcher
      // and the control plane and exits 0.
      await ctrlCAndWait(r);
      expect(r.stderr()).toMatch(
        /\nSIGINT: stopping\.\.\. \(Ctrl-C again exits at once\)\n[\s\S]*controlplane \[ *[\d.]+s\] etcd stopped\nstopped everything this run started\n$/,
      );
      expect(watchersOf(r)).toEqual([]);
    },
    RUNNING_TEST_TIMEOUT_MS,
  );

  itOnLocalCluster(
    "exits at once on a second Ctrl-C, and the control plane it leaves behind stops itself",
    async () => {
      const r = await npmStartRunning();
      const dataDir = /export KUBECONFIG=(\S+)\/kubeconfig\n/.exec(r.stderr())?.[1];
      expect(dataDir?.startsWith(path.join(os.tmpdir(), "hpsr-cp-"))).toBe(true);
      ctrlC(r);
      await waitFor("the first Ctrl-C to be taken", () =>
        r.stderr().includes("SIGINT: stopping...") ? true : undefined,
      );
      await ctrlCAndWait(r);
      expect(r.stderr()).toMatch(/\nSIGINT again: exiting without waiting\n$/);
      // The control plane runs in its own process group: it notices that its parent is gone.
      await waitFor(
        "the orphaned control plane to stop",
        () => (controlPlanesUsing(dataDir!) === 0 ? true : undefined),
        30_000,
      );
      rmSync(dataDir!, { recursive: true, force: true });
      expect(watchersOf(r)).toEqual([]);
    },
    RUNNING_TEST_TIMEOUT_MS,
  );

  itOnLocalCluster(
    "when npm start is killed with SIGKILL, its watcher and control plane stop themselves",
    async () => {
      const r = await npmStartRunning();
      const dataDir = /export KUBECONFIG=(\S+)\/kubeconfig\n/.exec(r.stderr())?.[1] ?? "";
      // the demo of this run only: in npm start's process group
      const demo = pidsWithArg("scripts/start.ts", r.child.pid);
      expect(demo).toHaveLength(1);
      expect(watchersOf(r)).toHaveLength(1);
      expect(controlPlanesUsing(dataDir)).toBe(1);
      process.kill(demo[0], "SIGKILL"); // no handler runs: nothing is stopped for them
      await waitFor(
        "the watcher and the control plane to notice and stop",
        () => (watchersOf(r).length === 0 && controlPlanesUsing(dataDir) === 0 ? true : undefined),
        // both poll for their parent every second; without that the watcher would linger until
        // it happened to log into its dead pipe (about 30 s here)
        15_000,
      );
      await waitFor("every process of npm start to exit", () => (groupAlive(r) ? undefined : true));
      rmSync(dataDir, { recursive: true, force: true });
    },
    RUNNING_TEST_TIMEOUT_MS,
  );

  it("exits 10 with the reason when Go is missing", async () => {
    const run = npmStart({ PATH: PATH_WITHOUT_GO, USE_EXISTING_CLUSTER: "false" });
    expect(await run.finished).toBe(10);
    expect(run.stderr()).toContain("error: no Go toolchain on PATH");
  });

  it("exits non-zero and names the cluster when USE_EXISTING_CLUSTER points nowhere", async () => {
    const { file: kubeconfig, remove } = kubeconfigFor("https://127.0.0.1:1", "x", {
      "insecure-skip-tls-verify": true,
    });
    try {
      const run = npmStart({ USE_EXISTING_CLUSTER: "true", KUBECONFIG: kubeconfig });
      expect(await run.finished).toBe(1);
      expect(run.stderr()).toContain(
        `USE_EXISTING_CLUSTER=true but the cluster of ${kubeconfig} is unreachable`,
      );
      expect(run.stderr()).toContain("127.0.0.1:1");
    } finally {
      remove();
    }
  });

  it("fails before building anything, exit 1, naming port 3000 and what needs it, when the port is taken", async () => {
    // Port 3000 is shared with other runs on this machine: wait for it, then hold it.
    await waitFor(
      "port 3000 to be free",
      async () => ((await portFree(WATCHER.port)) ? true : undefined),
      600_000,
      1000,
    );
    const busy = net.createServer();
    await new Promise<void>((resolve, reject) => {
      busy.once("error", reject);
      busy.listen(WATCHER.port, resolve);
    });
    try {
      // No Go on PATH: had it tried to build the control plane first, it would exit 10.
      const run = npmStart({ WATCHER_PORT_WAIT_MS: "0", PATH: PATH_WITHOUT_GO }, [LOCAL]);
      expect(await run.finished).toBe(1);
      expect(run.stderr()).toBe(`error: ${new PortInUseError(WATCHER).message}\n`);
      expect(run.stderr()).toContain("port 3000 is in use; the Pepr watcher's HTTPS server");
      expect(run.stdout()).toBe("");
    } finally {
      await new Promise(resolve => busy.close(resolve));
    }
  }, 700_000);

  itOnLocalCluster(
    "with USE_EXISTING_CLUSTER=true and no Go on PATH, runs on a running cluster, announces and undoes its changes",
    async () => {
      // the shared control plane, without pepr-system and the PeprStore CRD
      const cp: ControlPlane = await cleanSharedCluster({ bare: true });
      const cacheDir = mkdtempSync(path.join(os.tmpdir(), "hpsr-kubecache-"));
      try {
        const r = npmStart({
          USE_EXISTING_CLUSTER: "true",
          KUBECONFIG: cp.kubeconfig,
          KUBECACHEDIR: cacheDir, // kubectl's discovery cache: ports are reused between runs
          // kubectl from the control plane's build first; no folder with a `go`
          PATH: `${path.dirname(cp.kubectl)}${path.delimiter}${PATH_WITHOUT_GO}`,
        });
        await waitFor(
          "npm start on the existing cluster to say the module keeps running",
          () => (r.stderr().includes("Press Ctrl-C") ? true : undefined),
          START_DEADLINE_MS,
        );
        expect(splitStdout(r.stdout()).store).toMatchObject({ data: EXPECTED_DATA });
        const store = `PeprStore ${STORE_NAMESPACE}/${storeName()}`;
        const schedule = `PeprStore ${STORE_NAMESPACE}/${scheduleStoreName()}`;
        const created = [
          `Namespace ${STORE_NAMESPACE}`,
          `CustomResourceDefinition ${PEPR_STORE_RESOURCE}`,
        ];
        expect(announcements(r.stderr())).toEqual([
          ...created.map(o => `creating ${o} (removed on exit)`),
          `the watcher will create ${store} (removed on exit)`,
          `the watcher will create ${schedule} (removed on exit)`,
          `creating Namespace ${MODULE_NAMESPACE} (removed on exit)`,
          `creating ConfigMap ${MODULE_NAMESPACE}/observe (removed on exit)`,
        ]);

        await ctrlCAndWait(r);
        expect(announcements(r.stderr()).slice(6)).toEqual([
          `deleting ConfigMap ${MODULE_NAMESPACE}/observe (created by this run)`,
          `deleting Namespace ${MODULE_NAMESPACE} (created by this run)`,
          `deleting ${schedule} (created by this run)`,
          `deleting ${store} (created by this run)`,
          ...created.reverse().map(o => `deleting ${o} (created by this run)`),
        ]);
        expect(r.stderr()).toMatch(/\nstopped everything this run started\n$/);
        const crd = {
          apiVersion: "apiextensions.k8s.io/v1",
          kind: "CustomResourceDefinition",
          metadata: { name: PEPR_STORE_RESOURCE },
        };
        const gone = async (o: typeof crd): Promise<true | undefined> => {
          try {
            await objectApi(cp).read(o);
            return undefined;
          } catch (err) {
            if (isStatus(err, 404)) return true;
            throw err;
          }
        };
        await waitFor(`${PEPR_STORE_RESOURCE} to be gone`, () => gone(crd), 60_000);
        for (const name of [MODULE_NAMESPACE, STORE_NAMESPACE]) {
          const ns = { apiVersion: "v1", kind: "Namespace", metadata: { name } };
          await waitFor(`namespace ${name} to be gone`, () => gone(ns), 60_000);
        }
      } finally {
        rmSync(cacheDir, { recursive: true, force: true });
      }
    },
    RUNNING_TEST_TIMEOUT_MS,
  );

  it("leaves the build script usable: cluster/controlplane/build.sh exits 10 without Go", () => {
    const result = spawnSync(
      "bash",
      [path.join(repoRoot(), "cluster", "controlplane", "build.sh")],
      {
        env: { ...process.env, PATH: PATH_WITHOUT_GO },
        encoding: "utf8",
      },
    );
    expect(result.status).toBe(10);
    expect(result.stdout).toBe("");
  });
});
