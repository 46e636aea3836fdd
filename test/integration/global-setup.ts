// Jest globalSetup of the integration tier: the shared control plane (test/shared-cluster/) and,
// beside it, the fault tests' own (./start.ts). When $HPSR_FAULT_CLUSTER already names one
// (test/integration/with-cluster.ts, for `npm run test:mutation`), it is used.
import type { ControlPlane } from "../../cluster";
import sharedGlobalSetup from "../shared-cluster/global-setup";
import { ENV_FAULT_CLUSTER } from "./cluster";
import { startFaultCluster } from "./start-fault-cluster";

export default async function globalSetup(): Promise<void> {
  const faults = process.env[ENV_FAULT_CLUSTER] ? undefined : startFaultCluster();
  const [started] = await Promise.all([faults, sharedGlobalSetup()]);
  if (!started) return;
  (globalThis as { faultControlPlane?: ControlPlane }).faultControlPlane = started.cp;
  process.env[ENV_FAULT_CLUSTER] = started.stateFile;
}
