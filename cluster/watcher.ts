// The module's watcher on a cluster, one way for everyone (`npm start`, the benchmark, the tests):
// deployed as users deploy it (`npx pepr deploy --yes`, the watcher pod's logs followed) or run
// as a local process (as `pepr dev` does), both seen through the same log handle.
import type { ControlPlane } from "./controlplane";
import {
  DeployResult,
  followWatcherLogs,
  loadControllerImage,
  peprDeploy,
  waitForWatcherPod,
} from "./pepr-deploy";
import { ModuleOptions, ModuleProcess, SERVING, startModule } from "./local-watcher";

/** Where the watcher runs: a pod of the cluster's node, or a process on this machine. */
export type WatcherMode = "deployed" | "local";

export interface WatcherOptions extends ModuleOptions {
  mode: WatcherMode;
  /**
   * Deployed: resolve once the watcher pod serves, while `npx pepr deploy` still waits out
   * Pepr's 10 s readiness delay (then `deploying` settles later); default: once it is Ready.
   */
  untilServing?: boolean;
  /** Deployed: receives each line `npx pepr deploy` prints. */
  onOutput?: (line: string) => void;
  /** Deployed: ends `npx pepr deploy` when the run is asked to stop. */
  abort?: AbortSignal;
}

/** A running watcher. */
export interface Watcher {
  mode: WatcherMode;
  /** Its log records: the pod's logs followed, or the local process's output. */
  logs: ModuleProcess;
  /** Deployed: the watcher pod. */
  pod?: string;
  /** Deployed: `npx pepr deploy`, which may still be waiting for the rollout. */
  deploying?: Promise<DeployResult>;
  /** Stops the local process, or following the pod's logs (the pod stays with its cluster). */
  stop(): Promise<void>;
}

/**
 * Runs the module's watcher on `cp`. Deployed, the controller image is loaded into the node first
 * when the cluster was not started with it.
 *
 * @throws DeployError, NodeError, or the local watcher's start-up error
 */
export async function deployWatcher(cp: ControlPlane, options: WatcherOptions): Promise<Watcher> {
  if (options.mode === "local") {
    const logs = await startModule(cp, options);
    return { mode: "local", logs, stop: () => logs.stop() };
  }
  if (!cp.controllerImage) await loadControllerImage(cp, { onProgress: () => undefined });
  const { onOutput, abort, env } = options;
  const deploying = peprDeploy(cp, { onOutput, abort, env });
  deploying.catch(() => undefined); // awaited by the caller, or through the waits below
  const pod = await Promise.race([
    waitForWatcherPod(cp, { running: options.untilServing }),
    deploying.then(() => waitForWatcherPod(cp)),
  ]);
  const name = pod.metadata?.name as string;
  const logs = followWatcherLogs(cp, name, { echo: options.echo });
  try {
    await (options.untilServing
      ? Promise.race([
          logs.waitForLog(`watcher "${SERVING}"`, r => r.msg.startsWith(SERVING)),
          deploying.then(() => undefined),
        ])
      : deploying);
  } catch (err) {
    await logs.stop();
    throw err;
  }
  return { mode: "deployed", logs, pod: name, deploying, stop: () => logs.stop() };
}
