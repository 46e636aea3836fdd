// Every way a run ends stops it cleanly: `npm run cluster -- up` and `npm start`, started as a
// user starts them (in a process group of their own, as a terminal does), are ended by Ctrl-C,
// SIGTERM, a closed terminal (SIGHUP), a closed pipe (`| tee` gone, `| head`), or npm killed.
// After each, the host is as it was: no mount under the data dir, no process naming it, and the
// same netns, veth links, KUBE-/CNI- chains, kubepods cgroups and sysctls as before the run.
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { mountsUnder, waitFor } from "../../../cluster";
import { hostState, HostState, processesNaming } from "./host-state";
import {
  clusterUp as clusterUpIn,
  groupAlive,
  READY_TIMEOUT_MS,
  Run,
  startInGroup,
  waitForGroupGone,
} from "./process-group";

describe("every way a run ends leaves the host as it was", () => {
  let dataDir: string;
  let before: HostState;
  let run: Run | undefined;

  beforeAll(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "hpsr-run-ends-"));
  });

  beforeEach(() => {
    before = hostState();
  });

  afterEach(async () => {
    if (run && groupAlive(run.child.pid as number))
      process.kill(-(run.child.pid as number), "SIGKILL");
    run = undefined;
  });

  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** `npm run cluster -- up` (in `shell`) on the test's data dir, with the controller image. */
  async function clusterUp(shell?: string): Promise<Run> {
    run = await clusterUpIn(dataDir, shell);
    expect(run.out.stdout).toContain("image ghcr.io/defenseunicorns/pepr/controller:v1.1.4 loaded");
    return run;
  }

  /** The host checks after a run, the same for every way it ended. */
  function expectHostAsBefore(dir = dataDir): void {
    expect(mountsUnder(dir)).toEqual([]);
    expect(processesNaming(dir)).toEqual([]);
    expect(hostState()).toEqual(before);
  }

  /** Starts `npm start` (in `shell`) and waits for the PeprStore it prints; returns its data dir. */
  async function npmStart(shell: string): Promise<{ r: Run; dir: string }> {
    const r = startInGroup(shell, {});
    run = r;
    const printed = () => `${r.out.stdout}${r.out.stderr}`;
    await waitFor(
      "the PeprStore printed",
      () => (printed().includes("kind: PeprStore") || r.child.exitCode !== null ? true : undefined),
      READY_TIMEOUT_MS,
      250,
    );
    if (!printed().includes("[5/5] kubectl get peprstore")) {
      throw new Error(`${shell} exited ${r.child.exitCode} before the store:\n${printed()}`);
    }
    const dir = /controlplane \[ *[\d.]+s\] data dir (\S+) /.exec(printed())?.[1];
    expect(dir).toMatch(/^\/tmp\/hpsr-cp-/);
    return { r, dir: dir as string };
  }

  test("cluster up, Ctrl-C (SIGINT to its process group): stopped and kept", async () => {
    const r = await clusterUp();
    process.kill(-(r.child.pid as number), "SIGINT");
    await waitForGroupGone(r);
    // the cluster's process exits 0; npm then ends itself with the signal (a shell shows 130)
    expect(await r.exited).toBe("SIGINT");
    expect(r.out.stderr).toContain("\nSIGINT: stopping... (Ctrl-C again exits at once)\n");
    expect(r.out.stderr).toContain(`cluster stopped (SIGINT); kept in ${dataDir}\n`);
    expectHostAsBefore();
  });

  test("cluster up, SIGTERM to the node process alone: exit 0", async () => {
    const r = await clusterUp();
    const node = processesNaming(dataDir).find(p =>
      /^\d+ node --import tsx scripts\/cluster\.ts up$/.test(p),
    );
    expect(node).toBeDefined();
    process.kill(Number(node?.split(" ")[0]), "SIGTERM");
    await waitForGroupGone(r);
    expect(await r.exited).toBe(0);
    expect(r.out.stderr).toContain(`cluster stopped (SIGTERM); kept in ${dataDir}\n`);
    expectHostAsBefore();
  });

  test("cluster up, terminal closed (SIGHUP to its process group)", async () => {
    const r = await clusterUp();
    process.kill(-(r.child.pid as number), "SIGHUP");
    await waitForGroupGone(r);
    // bash and npm die of the SIGHUP; the node process stops the cluster and says so
    expect(r.out.stderr).toContain("\nSIGHUP: stopping... (Ctrl-C again exits at once)\n");
    expectHostAsBefore();
  });

  test("cluster up, npm killed (SIGKILL): the node process sees npm gone and stops", async () => {
    const r = await clusterUp("exec npm run cluster -- up");
    process.kill(r.child.pid as number, "SIGKILL");
    await waitForGroupGone(r);
    expectHostAsBefore();
  });

  test("npm start | tee, Ctrl-C: tee dies with it, the stop still runs", async () => {
    const { r, dir } = await npmStart("npm start 2>&1 | tee /dev/null");
    process.kill(-(r.child.pid as number), "SIGINT");
    await waitForGroupGone(r);
    expectHostAsBefore(dir);
  });

  test("npm start, terminal closed (SIGHUP to its process group)", async () => {
    const { r, dir } = await npmStart("npm start");
    process.kill(-(r.child.pid as number), "SIGHUP");
    await waitForGroupGone(r);
    expect(r.out.stderr).toContain("\nSIGHUP: stopping... (Ctrl-C again exits at once)\n");
    expect(r.out.stderr).toContain("\nstopped everything this run started\n");
    expectHostAsBefore(dir);
  });

  test("npm start | head -n 1: stdout closed after the observed record; exit 0", async () => {
    const { r, dir } = await npmStart("npm --silent start | head -n 1");
    await waitForGroupGone(r);
    expect(await r.exited).toBe(0);
    expect(JSON.parse(r.out.stdout)).toMatchObject({ msg: "observed" });
    expect(r.out.stderr).toContain("\nstdout closed: stopping (EPIPE)\n");
    expect(r.out.stderr).toContain("\nstopped everything this run started\n");
    expectHostAsBefore(dir);
  });
});
