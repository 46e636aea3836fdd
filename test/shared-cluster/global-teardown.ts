// Jest globalTeardown of the integration and e2e tiers: stops the control plane globalSetup started.
import type { ControlPlane } from "../../cluster";

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { sharedControlPlane?: ControlPlane }).sharedControlPlane?.stop();
}
