// The deploy manifest `npx pepr build` writes is accepted by a real API server.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

import {
  buildModule,
  ControlPlane,
  kubectlRun,
  prepareCluster,
  startControlPlane,
} from "../../cluster";

describe("dist/pepr-module-<uuid>.yaml", () => {
  let cp: ControlPlane;

  beforeAll(async () => {
    cp = await startControlPlane();
    await prepareCluster(cp); // what `pepr deploy` applies first: pepr-system and the CRD
  });

  afterAll(async () => {
    await cp?.stop();
  });

  it("passes a server-side dry run of every object", async () => {
    const { manifest } = buildModule();
    const docs = parseAllDocuments(readFileSync(manifest, "utf8"))
      .map(d => d.toJS() as { kind: string; metadata: { name: string } } | null)
      .filter(d => d !== null);
    const result = await kubectlRun(cp, [
      "apply",
      "--dry-run=server",
      "-f",
      manifest,
      "-o",
      "name",
    ]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const applied = result.stdout
      .trim()
      .split("\n")
      .map(l => l.split("/").pop())
      .sort();
    expect(applied).toEqual(docs.map(d => d.metadata.name).sort());
    expect(docs.map(d => d.kind).sort()).toEqual([
      "ClusterRole",
      "ClusterRoleBinding",
      "Deployment",
      "Namespace",
      "Role",
      "RoleBinding",
      "Secret",
      "Secret",
      "Secret",
      "Service",
      "ServiceAccount",
    ]);
  });
});
