// Faults of the deployed watcher on the local cluster's node, each right after `observe` is
// created: its pod deleted (the Deployment replaces it), its container OOM-killed by the kernel
// (either of its two processes), its container's main process killed (the kubelet restarts the
// container). Each time the store must end exact and the watcher that runs afterwards must log
// `observed`. One cluster for the file; each describe deploys afresh on it (./deployed.ts).
import {
  ControlPlane,
  createConfigMap,
  deleteObject,
  kubectl,
  waitForStore,
  waitForWatcherPod,
} from "../../../cluster";
import { STORE_NAMESPACE } from "../../../store/contract";
import { EXPECTED_DATA, MODULE_NAMESPACE, report } from "../scenario";
import {
  containerStatus,
  killContainer,
  oomKillContainer,
  waitForRestart,
  WatcherContainer,
  watcherContainer,
} from "./container-faults";
import {
  Deployed,
  deniedForWatcher,
  observedByPod,
  useDeployment,
  useNodeCluster,
  watcherPodObject,
} from "./deployed";

const cluster = useNodeCluster();

/** The store once it holds the four keys and the placeholder. */
async function storeWithFourKeys(cp: ControlPlane) {
  return (await waitForStore(cp, "the four keys", data => Object.keys(data).length === 5)).data;
}

/** The `observed` lines of `kubectl logs` of the pod's current container. */
async function observedLines(cp: ControlPlane, pod: string): Promise<string[]> {
  // the user's command (README): how a user sees the watcher's `observed`
  const plain = await kubectl(cp, ["logs", "-n", STORE_NAMESPACE, pod]);
  return plain.split("\n").filter(line => line.includes('"msg":"observed"'));
}

/**
 * After a fault that ended the container: the kubelet restarted it once in the same pod, with
 * `terminated` as the ended container's last state; the restarted container logs `observed`
 * once, the store ends exact, no 403.
 */
async function expectRestartedAndObserved(
  d: Deployed,
  ended: WatcherContainer,
  terminated: { exitCode: number; reason: string },
  createdAt: number,
  fault: string,
): Promise<void> {
  const status = await waitForRestart(d.cp, d.pod, 1);
  expect(status.restartCount).toBe(1);
  expect(status.lastState?.terminated).toMatchObject({
    containerID: `containerd://${ended.id}`,
    ...terminated,
  });
  await observedByPod(d.cp, d.pod, createdAt);
  report(`observe created, ${fault} → observed by the restarted container`, Date.now() - createdAt);
  expect(await observedLines(d.cp, d.pod)).toHaveLength(1);
  expect(await storeWithFourKeys(d.cp)).toEqual(EXPECTED_DATA);
  expect((await containerStatus(d.cp, d.pod)).restartCount).toBe(1);
  expect(deniedForWatcher(d)).toEqual([]);
}

describe("the watcher pod deleted right after `observe` is created", () => {
  const d = useDeployment(cluster);

  it("is replaced by the Deployment; the new pod logs observed and the store ends exact", async () => {
    const createdAt = Date.now();
    await createConfigMap(d.cp, MODULE_NAMESPACE, "observe");
    expect(await deleteObject(d.cp, watcherPodObject(d.pod))).toBe(true);
    const replacement = await waitForWatcherPod(d.cp, { exclude: [d.pod] });
    await observedByPod(d.cp, replacement.metadata?.name as string, createdAt);
    report("observe created, pod deleted → observed by the new pod", Date.now() - createdAt);
    expect(await storeWithFourKeys(d.cp)).toEqual(EXPECTED_DATA);
    expect(deniedForWatcher(d)).toEqual([]);
  });
});

describe("the watcher's container OOM-killed by the kernel right after `observe` is created", () => {
  const d = useDeployment(cluster);

  it("OOMKilled, restarted in the same pod; the restarted container logs observed, the store ends exact", async () => {
    const container = await watcherContainer(d.cp, d.pod);
    const createdAt = Date.now();
    await createConfigMap(d.cp, MODULE_NAMESPACE, "observe");
    const kill = await oomKillContainer(container);
    expect([container.modulePid, container.mainPid]).toContain(kill.pid);
    expect(kill.line).toContain(
      `task_memcg=${container.memcgPath},task=node,pid=${kill.pid},uid=65532`,
    );
    // the kernel picks the larger of the two node processes (oomKillContainer). The module
    // killed: Pepr's controller.js, its parent and the container's main process, has nothing
    // left to run and exits 0. controller.js killed: the container ends with SIGKILL's 137.
    // Either way containerd's OOM event names why.
    const exitCode = kill.pid === container.modulePid ? 0 : 137;
    await expectRestartedAndObserved(
      d,
      container,
      { exitCode, reason: "OOMKilled" },
      createdAt,
      `OOM kill (${kill.pid === container.modulePid ? "module" : "controller.js"})`,
    );
  });
});

describe("the watcher's container killed right after `observe` is created", () => {
  const d = useDeployment(cluster);

  it("SIGKILL through containerd: restarted in the same pod, which logs observed; the store ends exact", async () => {
    const container = await watcherContainer(d.cp, d.pod);
    const createdAt = Date.now();
    await createConfigMap(d.cp, MODULE_NAMESPACE, "observe");
    killContainer(d.cp, container);
    await expectRestartedAndObserved(
      d,
      container,
      { exitCode: 137, reason: "Error" },
      createdAt,
      "container killed",
    );
  });
});
