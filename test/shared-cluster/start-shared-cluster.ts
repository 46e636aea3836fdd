// Starting a tier's shared control plane: for global-setup.ts and test/integration/with-cluster.ts,
// which (unlike the integration test files) may load the cluster package's barrel.
import { writeFileSync } from "node:fs";
import path from "node:path";

import { ControlPlane, prepareCluster, startControlPlane } from "../../cluster";
import { SharedCluster } from "./state";

/** A started control plane and the file that tells the test files how to reach it. */
export interface StartedCluster {
  cp: ControlPlane;
  stateFile: string;
}

/**
 * Starts a control plane with pepr-system and the PeprStore CRD, and writes what `state` makes
 * of it to `fileName` next to its kubeconfig (stopping it again when either step fails).
 */
export async function startPreparedCluster(
  fileName: string,
  state: (cp: ControlPlane) => object,
): Promise<StartedCluster> {
  const cp = await startControlPlane();
  try {
    await prepareCluster(cp);
    const stateFile = path.join(path.dirname(cp.kubeconfig), fileName);
    writeFileSync(stateFile, JSON.stringify(state(cp)));
    return { cp, stateFile };
  } catch (err) {
    await cp.stop();
    throw err;
  }
}

/** What every state file holds: how a test file reaches the control plane. */
export function accessOf(
  cp: ControlPlane,
): Pick<ControlPlane, "kubeconfig" | "kubectl" | "kubectlCacheDir" | "server"> {
  const { kubeconfig, kubectl, kubectlCacheDir, server } = cp;
  return { kubeconfig, kubectl, kubectlCacheDir, server };
}

/** The tier's shared control plane, its {@link SharedCluster} written for $HPSR_SHARED_CLUSTER. */
export function startSharedCluster(): Promise<StartedCluster> {
  return startPreparedCluster(
    "shared-cluster.json",
    (cp): SharedCluster => ({ ...accessOf(cp), local: cp.local }),
  );
}
