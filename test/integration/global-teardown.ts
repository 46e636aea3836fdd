// Jest globalTeardown of the integration tier: stops the control planes globalSetup started.
import type { ControlPlane } from "../../cluster";

export default async function globalTeardown(): Promise<void> {
  const { integrationControlPlanes = [] } = globalThis as {
    integrationControlPlanes?: ControlPlane[];
  };
  await Promise.all(integrationControlPlanes.map(cp => cp.stop()));
}
