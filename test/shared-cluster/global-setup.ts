// Jest globalSetup of the integration and e2e tiers: one local control plane (etcd +
// kube-apiserver + controllers) with the pepr-system namespace and the PeprStore CRD, for every
// file of the tier. When $HPSR_SHARED_CLUSTER already names one (test/integration/with-cluster.ts,
// which `npm run test:mutation` uses so that each mutant's run does not start its own), it is used.
import type { ControlPlane } from "../../cluster";
import { startSharedCluster } from "./start-shared-cluster";
import { ENV_SHARED_CLUSTER } from "./state";

export default async function globalSetup(): Promise<void> {
  if (process.env[ENV_SHARED_CLUSTER]) return;
  const { cp, stateFile } = await startSharedCluster();
  (globalThis as { sharedControlPlane?: ControlPlane }).sharedControlPlane = cp;
  // The test files run after this (in workers, or in band), and inherit the environment.
  process.env[ENV_SHARED_CLUSTER] = stateFile;
}
