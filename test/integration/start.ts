// Starting the integration tier's control planes: for global-setup.ts and with-cluster.ts, which
// (unlike the test files) may load the cluster package's barrel.
import { writeFileSync } from "node:fs";
import path from "node:path";

import {
  ControlPlane,
  PEPR_STORE_CRD,
  prepareCluster,
  startControlPlane,
  useExisting,
} from "../../cluster";
import { FaultCluster, IntegrationCluster } from "./cluster";

/** A control plane with pepr-system and the PeprStore CRD; stopped again if that fails. */
async function preparedControlPlane(): Promise<ControlPlane> {
  const cp = await startControlPlane();
  try {
    await prepareCluster(cp);
  } catch (err) {
    await cp.stop();
    throw err;
  }
  return cp;
}

/**
 * Starts the two control planes of the tier, each with pepr-system and the PeprStore CRD: the one
 * all files share, and the one test/integration/store-watch-faults.test.ts stops, restarts and
 * breaks (so the shared one never fails under the other files). On an existing cluster
 * (USE_EXISTING_CLUSTER=true) only the shared one, and the fault tests are skipped. Writes their
 * {@link IntegrationCluster} next to the shared one's kubeconfig for $HPSR_INTEGRATION_CLUSTER.
 *
 * @returns both control planes' handles and the state file
 */
export async function startIntegrationCluster(): Promise<{
  cps: ControlPlane[];
  stateFile: string;
}> {
  const count = useExisting() ? 1 : 2;
  const started = await Promise.allSettled(
    Array.from({ length: count }, () => preparedControlPlane()),
  );
  const cps = started.flatMap(s => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find(s => s.status === "rejected");
  if (failed) {
    await Promise.all(cps.map(cp => cp.stop()));
    throw failed.reason;
  }
  const [shared, faults] = cps;
  const faultState: FaultCluster | undefined = faults?.local && {
    ...clusterState(faults),
    control: faults.local.control,
    controlToken: faults.local.controlToken,
    crd: PEPR_STORE_CRD,
  };
  const state: IntegrationCluster = {
    ...clusterState(shared),
    ...(faultState ? { faults: faultState } : {}),
  };
  const stateFile = path.join(path.dirname(shared.kubeconfig), "integration.json");
  writeFileSync(stateFile, JSON.stringify(state));
  return { cps, stateFile };
}

function clusterState(cp: ControlPlane): Omit<IntegrationCluster, "faults"> {
  return {
    kubeconfig: cp.kubeconfig,
    kubectl: cp.kubectl,
    kubectlCacheDir: cp.kubectlCacheDir,
    server: cp.server,
  };
}
