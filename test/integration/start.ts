// Starting the fault tests' control plane (test/integration/store-watch-faults.test.ts stops,
// restarts and breaks it, so the shared one never fails under the other files): for
// global-setup.ts and with-cluster.ts, which (unlike the test files) may load the cluster barrel.
import { writeFileSync } from "node:fs";
import path from "node:path";

import {
  ControlPlane,
  PEPR_STORE_CRD,
  prepareCluster,
  startControlPlane,
  useExisting,
} from "../../cluster";
import { FaultCluster } from "./cluster";

/**
 * Starts the fault tests' control plane with pepr-system and the PeprStore CRD and writes its
 * {@link FaultCluster} next to its kubeconfig for $HPSR_FAULT_CLUSTER. On an existing cluster
 * (USE_EXISTING_CLUSTER=true) none: the fault tests are skipped.
 */
export async function startFaultCluster(): Promise<
  { cp: ControlPlane; stateFile: string } | undefined
> {
  if (useExisting()) return undefined;
  const cp = await startControlPlane();
  try {
    await prepareCluster(cp);
  } catch (err) {
    await cp.stop();
    throw err;
  }
  const state: FaultCluster = {
    kubeconfig: cp.kubeconfig,
    kubectl: cp.kubectl,
    kubectlCacheDir: cp.kubectlCacheDir,
    server: cp.server,
    control: cp.local!.control,
    controlToken: cp.local!.controlToken,
    crd: PEPR_STORE_CRD,
  };
  const stateFile = path.join(path.dirname(cp.kubeconfig), "fault-cluster.json");
  writeFileSync(stateFile, JSON.stringify(state));
  return { cp, stateFile };
}
