// Jest globalTeardown of the integration tier: stops the control plane globalSetup started.
import type { ControlPlane } from "../../cluster";

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { integrationControlPlane?: ControlPlane }).integrationControlPlane?.stop();
}
