// A command started as a user starts it from a terminal: in a process group of its own, its
// output collected, so a test can signal the group and wait until every process of it is gone.
import { ChildProcess, spawn } from "node:child_process";

import { repoRoot, waitFor } from "../../../cluster";
import { NODE_START_TIMEOUT_MS } from "../../../cluster/controlplane";

/** The node start (which may wait for another run's node) and, for npm start, the deploy. */
export const READY_TIMEOUT_MS = NODE_START_TIMEOUT_MS + 300_000;
/** A stop with the node: pods removed, the machine restored, the API server and etcd stopped. */
export const STOP_TIMEOUT_MS = 120_000;

/** A command run in a process group of its own, its output collected. */
export interface Run {
  child: ChildProcess;
  out: { stdout: string; stderr: string };
  exited: Promise<number | string>;
}

export function startInGroup(shell: string, env: Record<string, string>): Run {
  const child = spawn("bash", ["-o", "pipefail", "-c", shell], {
    cwd: repoRoot(),
    env: { ...process.env, ...env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group, as a terminal's foreground job
  });
  const out = { stdout: "", stderr: "" };
  child.stdout?.on("data", chunk => (out.stdout += chunk));
  child.stderr?.on("data", chunk => (out.stderr += chunk));
  const exited = new Promise<number | string>(resolve =>
    child.on("close", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  return { child, out, exited };
}

/** Whether any process of the group `pgid` is left. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits for every process of the run's group to exit (the stop is over when the last one is). */
export async function waitForGroupGone(run: Run): Promise<void> {
  await run.exited;
  const pgid = run.child.pid as number;
  await waitFor(
    `process group ${pgid} to exit`,
    () => (groupAlive(pgid) ? undefined : true),
    STOP_TIMEOUT_MS,
    250,
  );
}

/** Starts `npm run cluster -- up` (in `shell`) on dataDir and waits for its "Cluster up" line. */
export async function clusterUp(dataDir: string, shell = "npm run cluster -- up"): Promise<Run> {
  const r = startInGroup(shell, { CLUSTER_DATA_DIR: dataDir });
  await waitFor(
    "Cluster up",
    () => (r.out.stdout.includes("Cluster up:") || r.child.exitCode !== null ? true : undefined),
    READY_TIMEOUT_MS,
    250,
  );
  if (!r.out.stdout.includes("Cluster up:")) {
    throw new Error(`${shell} exited ${r.child.exitCode} before it was up:\n${r.out.stderr}`);
  }
  return r;
}
