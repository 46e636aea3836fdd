// What the in-cluster deploy tests share: a cluster with a node, the controller image loaded into
// it, `npx pepr deploy --yes`, the watcher pod's logs followed, and the checks on what it did.
import {
  auditLog,
  ControlPlane,
  followWatcherLogs,
  loadControllerImage,
  ModuleProcess,
  peprDeploy,
  startControlPlane,
  waitForWatcherPod,
  watcherServiceAccount,
} from "../../../cluster";
import { STORE_NAMESPACE } from "../../../store/contract";
import { OBSERVED_TIMEOUT_MS, report } from "../scenario";

/** Image build (cold: about a minute), node start, two `pepr deploy` runs and their rollouts. */
export const SUITE_TIMEOUT_MS = 900_000;
/** The user the watcher pod's requests carry in the audit log. */
export const SERVICE_ACCOUNT_USER = `system:serviceaccount:${STORE_NAMESPACE}:${watcherServiceAccount()}`;

export interface Deployed {
  cp: ControlPlane;
  pod: string;
  logs: ModuleProcess;
  stop(): Promise<void>;
}

/** A cluster with a node, the image loaded, `before` run, then `npx pepr deploy --yes`. */
export async function deployOnNode(
  before?: (cp: ControlPlane) => Promise<void>,
): Promise<Deployed> {
  const cp = await startControlPlane({ node: true });
  let logs: ModuleProcess | undefined;
  try {
    const image = await loadControllerImage(cp, { onProgress: () => undefined });
    report(`ctr images import of ${image.name}`, image.loadSeconds * 1000);
    await before?.(cp);
    const deployed = await peprDeploy(cp);
    report("npx pepr deploy --yes (build, apply, rollout)", deployed.seconds * 1000);
    const pod = (await waitForWatcherPod(cp)).metadata?.name as string;
    logs = followWatcherLogs(cp, pod);
    const follower = logs;
    return {
      cp,
      pod,
      logs,
      stop: async () => {
        await follower.stop();
        await cp.stop();
      },
    };
  } catch (err) {
    await logs?.stop();
    await cp.stop();
    throw err;
  }
}

/** Waits for an `observed` record logged at or after `sinceMs` in followed pod logs. */
export function waitForObservedIn(logs: ModuleProcess, sinceMs: number) {
  return logs.waitForLog(
    `"observed" in kubectl logs`,
    r => r.msg === "observed" && r.time >= sinceMs,
    OBSERVED_TIMEOUT_MS,
  );
}

/** Audit events of the watcher's ServiceAccount answered 403 (denied by RBAC). */
export function deniedForWatcher(cp: ControlPlane) {
  return auditLog(cp).completed(
    e => e.user.username === SERVICE_ACCOUNT_USER && e.responseStatus?.code === 403,
  );
}
