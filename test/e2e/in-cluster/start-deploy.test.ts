// The default `npm start`, the README's main command, on the local cluster's node: it builds the
// controller image, deploys the module with `npx pepr deploy`, prints the watcher pod's `observed`
// and the PeprStore, and stops everything on Ctrl-C, with the host's port 3000 in use: the watcher
// runs in a pod, with its own network. How npm start is run and read: ../npm-start.ts.
import net from "node:net";

import { WATCHER } from "../../../cluster/ports.cjs";
import {
  ctrlCAndWait,
  DEPLOY_START_DEADLINE_MS,
  itOnLocalCluster,
  killLeftovers,
  npmStartRunning,
  splitStdout,
} from "../npm-start";
import { EXPECTED_DATA } from "../scenario";

/** Listens on port 3000 unless something else already does: either way the port is in use. */
async function occupyWatcherPort(): Promise<() => Promise<void>> {
  const server = net.createServer();
  const held = await new Promise<boolean>(resolve => {
    server.once("error", () => resolve(false));
    server.listen(WATCHER.port, () => resolve(true));
  });
  return () =>
    held ? new Promise<void>(resolve => server.close(() => resolve())) : Promise.resolve();
}

describe("npm start", () => {
  afterEach(killLeftovers);

  itOnLocalCluster(
    "deploys with npx pepr deploy on the node, with port 3000 in use, prints observed and the PeprStore, stops on Ctrl-C",
    async () => {
      const release = await occupyWatcherPort();
      try {
        await deployedRun();
      } finally {
        await release();
      }
    },
    DEPLOY_START_DEADLINE_MS + 60_000,
  );

  async function deployedRun(): Promise<void> {
    const r = await npmStartRunning([], DEPLOY_START_DEADLINE_MS);
    const { observed, store } = splitStdout(r.stdout());
    // pino's hostname is the pod's name: the record comes from the watcher pod
    expect(observed).toMatchObject({
      level: 30,
      msg: "observed",
      hostname: expect.stringMatching(/^pepr-hello-pepr-store-resources-watcher-/),
    });
    expect(store).toMatchObject({
      metadata: { name: "pepr-hello-pepr-store-resources-store" },
      data: EXPECTED_DATA,
    });
    const steps = r.stderr().match(/^\[\d\/5\] .*$/gm) ?? [];
    expect(steps.map(line => line.split(" ").slice(0, 3).join(" "))).toEqual([
      "[1/5] cluster: building",
      "[2/5] npx pepr",
      "[3/5] kubectl create",
      "[4/5] waiting for",
      "[5/5] kubectl get",
    ]);
    expect(r.stderr()).toContain("with the Pepr controller image\n");
    expect(r.stderr()).toMatch(
      /controlplane \[ *[\d.]+s\] image ghcr\.io\/defenseunicorns\/pepr\/controller imported in [\d.]+s\n/,
    );
    expect(r.stderr()).toContain("npx pepr deploy --yes (builds the module");
    expect(r.stderr()).toMatch(
      / {6}done in \d+\.\ds: watcher pod pepr-system\/pepr-hello-pepr-store-resources-watcher-\S+ serving \(the rollout goes on\)\n/,
    );
    expect(r.stderr()).toContain(
      "      npx pepr deploy finished: the watcher Deployment rolled out\n",
    );
    expect(r.stderr()).not.toContain("cannot run the node");
    expect(r.stderr()).not.toContain("no node:");
    await ctrlCAndWait(r);
    expect(r.stderr()).toMatch(
      /\nSIGINT: stopping\.\.\. \(Ctrl-C again exits at once\)\n[\s\S]*controlplane \[ *[\d.]+s\] etcd stopped\nstopped everything this run started\n$/,
    );
  }
});
