// Jest globalTeardown of the integration tier: stops the control planes global-setup.ts started.
import type { ControlPlane } from "../../cluster";
import sharedGlobalTeardown from "../shared-cluster/global-teardown";

export default async function globalTeardown(): Promise<void> {
  const { faultControlPlane } = globalThis as { faultControlPlane?: ControlPlane };
  await Promise.all([faultControlPlane?.stop(), sharedGlobalTeardown()]);
}
