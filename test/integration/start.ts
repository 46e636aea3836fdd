// Starting the integration tier's control plane: for global-setup.ts and with-cluster.ts, which
// (unlike the test files) may load the cluster package's barrel.
import { writeFileSync } from "node:fs";
import path from "node:path";

import { ControlPlane, prepareCluster, startControlPlane } from "../../cluster";
import { IntegrationCluster } from "./cluster";

/**
 * Starts the control plane of the tier with pepr-system and the PeprStore CRD, and writes its
 * {@link IntegrationCluster} next to its kubeconfig for $HPSR_INTEGRATION_CLUSTER.
 */
export async function startIntegrationCluster(): Promise<{ cp: ControlPlane; stateFile: string }> {
  const cp = await startControlPlane();
  try {
    await prepareCluster(cp);
  } catch (err) {
    await cp.stop();
    throw err;
  }
  const state: IntegrationCluster = {
    kubeconfig: cp.kubeconfig,
    kubectl: cp.kubectl,
    kubectlCacheDir: cp.kubectlCacheDir,
    server: cp.server,
  };
  const stateFile = path.join(path.dirname(cp.kubeconfig), "integration.json");
  writeFileSync(stateFile, JSON.stringify(state));
  return { cp, stateFile };
}
