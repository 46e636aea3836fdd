// The one control plane a Jest tier shares across its files (global-setup.ts starts it): where
// its description is found, and reading it. Loads nothing but node:fs, so that any test file
// may import it (the integration files must not load the cluster package's barrel).
import { readFileSync } from "node:fs";

import type { ReadyLine } from "../../cluster/controlplane";

/** Names the JSON file global-setup.ts writes with the shared control plane's {@link SharedCluster}. */
export const ENV_SHARED_CLUSTER = "HPSR_SHARED_CLUSTER";

/** The shared control plane, as kubectl, the tests and the watcher reach it. */
export interface SharedCluster {
  kubeconfig: string;
  kubectl: string;
  kubectlCacheDir?: string;
  server: string;
  /** Its ready line (its audit log, data dir, ...); absent on an existing cluster. */
  local?: ReadyLine;
}

/**
 * The control plane global-setup.ts started for this Jest run.
 *
 * @throws when the tier's Jest config has no such globalSetup
 */
export function sharedCluster(): SharedCluster {
  const file = process.env[ENV_SHARED_CLUSTER];
  if (!file)
    throw new Error(
      `${ENV_SHARED_CLUSTER} is unset: run with a Jest config whose globalSetup is test/shared-cluster/global-setup.ts`,
    );
  return JSON.parse(readFileSync(file, "utf8")) as SharedCluster;
}
