// Starting the fault tests' control plane (test/integration/store-watch-faults.test.ts stops,
// restarts and breaks it, so the shared one never fails under the other files): for
// global-setup.ts and with-cluster.ts, which (unlike the test files) may load the cluster barrel.
import { useExisting } from "../../cluster";
import { PEPR_STORE_CRD } from "../../cluster/local-watcher";
import {
  accessOf,
  StartedCluster,
  startPreparedCluster,
} from "../shared-cluster/start-shared-cluster";
import { FaultCluster } from "./cluster";

/**
 * Starts the fault tests' control plane with pepr-system and the PeprStore CRD and writes its
 * {@link FaultCluster} next to its kubeconfig for $HPSR_FAULT_CLUSTER. On an existing cluster
 * (USE_EXISTING_CLUSTER=true) none: the fault tests are skipped.
 */
export async function startFaultCluster(): Promise<StartedCluster | undefined> {
  if (useExisting()) return undefined;
  return startPreparedCluster(
    "fault-cluster.json",
    (cp): FaultCluster => ({
      ...accessOf(cp),
      control: cp.local!.control,
      controlToken: cp.local!.controlToken,
      crd: PEPR_STORE_CRD,
    }),
  );
}
