// Jest globalSetup of the integration tier: one local control plane (etcd + kube-apiserver) with
// the pepr-system namespace and the PeprStore CRD, for every file of the tier. No watcher.
import { writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { startControlPlane } from "../harness/controlplane";
import { prepareCluster } from "../harness/module";
import { ENV_INTEGRATION_CLUSTER, IntegrationCluster } from "./cluster";

export default async function globalSetup(): Promise<void> {
  const cp = await startControlPlane();
  (globalThis as { integrationControlPlane?: typeof cp }).integrationControlPlane = cp;
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
  const file = path.join(path.dirname(cp.kubeconfig), "integration.json");
  writeFileSync(file, JSON.stringify(state));
  // The test files run in workers started after this, which inherit the environment.
  process.env[ENV_INTEGRATION_CLUSTER] = file;
  if (process.env.DEBUG_INTEGRATION) process.stderr.write(`${os.EOL}integration: ${cp.server}\n`);
}
