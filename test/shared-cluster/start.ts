// Starting a tier's shared control plane: for global-setup.ts and test/integration/with-cluster.ts,
// which (unlike the integration test files) may load the cluster package's barrel.
import { writeFileSync } from "node:fs";
import path from "node:path";

import { ControlPlane, prepareCluster, startControlPlane } from "../../cluster";
import { SharedCluster } from "./state";

/**
 * Starts the control plane with pepr-system and the PeprStore CRD, and writes its
 * {@link SharedCluster} next to its kubeconfig for $HPSR_SHARED_CLUSTER.
 */
export async function startSharedCluster(): Promise<{ cp: ControlPlane; stateFile: string }> {
  const cp = await startControlPlane();
  try {
    await prepareCluster(cp);
  } catch (err) {
    await cp.stop();
    throw err;
  }
  const state: SharedCluster = {
    kubeconfig: cp.kubeconfig,
    kubectl: cp.kubectl,
    kubectlCacheDir: cp.kubectlCacheDir,
    server: cp.server,
    local: cp.local,
  };
  const stateFile = path.join(path.dirname(cp.kubeconfig), "shared-cluster.json");
  writeFileSync(stateFile, JSON.stringify(state));
  return { cp, stateFile };
}
