// Jest globalSetup of the integration tier: one local control plane (etcd + kube-apiserver) with
// the pepr-system namespace and the PeprStore CRD, for every file of the tier (and a second one
// for the fault tests, see ./start.ts). No watcher. When
// $HPSR_INTEGRATION_CLUSTER already names one (test/integration/with-cluster.ts, which
// `npm run test:mutation` uses so that each mutant's run does not start its own), it is used.
import type { ControlPlane } from "../../cluster";
import { ENV_INTEGRATION_CLUSTER } from "./cluster";
import { startIntegrationCluster } from "./start";

export default async function globalSetup(): Promise<void> {
  if (process.env[ENV_INTEGRATION_CLUSTER]) return;
  const { cps, stateFile } = await startIntegrationCluster();
  (globalThis as { integrationControlPlanes?: ControlPlane[] }).integrationControlPlanes = cps;
  // The test files run in workers started after this, which inherit the environment.
  process.env[ENV_INTEGRATION_CLUSTER] = stateFile;
}
