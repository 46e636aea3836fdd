// Running `npm start` as a user runs it, for the tests of it (start.test.ts here, and
// in-cluster/start-deploy.test.ts for its default deploy path): in its own process group, stopped
// with SIGINT (Ctrl-C), its output split into what it printed, and the processes it started found
// by its process group or by the unique data dir of its control plane.
import { ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";

import { OBSERVED_DEADLINE_MS } from "../../capabilities/deadlines";
import { repoRoot, waitFor } from "../../cluster";
import { buildOutputs } from "../../cluster/paths";
import { ENV_WATCHER_PORT_WAIT } from "../../cluster/ports.cjs";

/** What npm start may wait for port 3000 when other runs share the machine (WATCHER_PORT_WAIT_MS). */
export const PORT_WAIT_MS = Number(process.env[ENV_WATCHER_PORT_WAIT] ?? 0);
/**
 * How long npm start may take to say "Press Ctrl-C": its wait for port 3000, a minute to start
 * the control plane, build and start the watcher, then its own deadline for "observed". Usually
 * about 30 s in all.
 */
export const START_DEADLINE_MS = PORT_WAIT_MS + 60_000 + OBSERVED_DEADLINE_MS;
/** Jest's timeout for a test that waits for npm start to be running, then stops it. */
export const RUNNING_TEST_TIMEOUT_MS = START_DEADLINE_MS + 90_000;
/** The same for the default npm start: image (cold: about a minute), node, `npx pepr deploy`. */
export const DEPLOY_START_DEADLINE_MS = PORT_WAIT_MS + 360_000;
/** The flag for the local-process watcher (the tests of its process model use it). */
export const LOCAL = "--local";

/** This PATH without the folders that hold a `go` (node and npm stay wherever they are). */
export const PATH_WITHOUT_GO = (process.env.PATH ?? "")
  .split(path.delimiter)
  .filter(dir => dir !== "" && !existsSync(path.join(dir, "go")))
  .join(path.delimiter);

export interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /**
   * npm's exit code, once every process holding the output pipes has closed them: after a Ctrl-C
   * npm dies at once while the demo is still stopping, and an "exit" event can come before the
   * last output has been read.
   */
  finished: Promise<number | null>;
}

/** Every run started since the last {@link killLeftovers}, for it to clean up. */
const startedRuns = new Set<Run>();

/** Starts `npm start [-- args]` in its own process group, as a terminal would. */
export function npmStart(env: Record<string, string> = {}, args: string[] = []): Run {
  const child = spawn("npm", ["start", "--silent", ...(args.length > 0 ? ["--", ...args] : [])], {
    cwd: repoRoot(),
    detached: true,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", d => (out += d));
  child.stderr?.on("data", d => (err += d));
  const finished = new Promise<number | null>(resolve => child.on("close", code => resolve(code)));
  const run = { child, stdout: () => out, stderr: () => err, finished };
  startedRuns.add(run);
  return run;
}

/** `npm start [-- args]` on the local cluster, once it says the module keeps running. */
export async function npmStartRunning(
  args = [LOCAL],
  deadlineMs = START_DEADLINE_MS,
): Promise<Run> {
  const r = npmStart({ WATCHER_PORT_WAIT_MS: process.env.WATCHER_PORT_WAIT_MS ?? "0" }, args);
  let exit: number | null | undefined;
  void r.finished.then(code => (exit = code));
  try {
    const outcome = await waitFor(
      "npm start to say the module keeps running",
      () =>
        r.stderr().includes("Press Ctrl-C") ? "running" : exit !== undefined ? "exited" : undefined,
      deadlineMs,
    );
    if (outcome === "exited") {
      throw new Error(`npm start exited with ${exit} before it said the module keeps running`);
    }
  } catch (err) {
    if (groupAlive(r) && r.child.pid) process.kill(-r.child.pid, "SIGKILL");
    const tail = r.stderr().split("\n").slice(-20).join("\n");
    throw new Error(`${(err as Error).message}\nnpm start's stderr ended with:\n${tail}`, {
      cause: err,
    });
  }
  return r;
}

/** Ctrl-C: SIGINT to the whole process group. */
export function ctrlC(run: Run): void {
  if (run.child.pid) process.kill(-run.child.pid, "SIGINT");
}

/** Whether any process of the run's process group is still alive. */
export function groupAlive(run: Run): boolean {
  try {
    if (run.child.pid) process.kill(-run.child.pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The processes with `arg` as one of their command-line arguments (read from /proc), and with
 * `group` as their process group when it is given: other runs on the machine are not counted.
 */
export function pidsWithArg(arg: string, group?: number): number[] {
  return readdirSync("/proc")
    .filter(entry => /^\d+$/.test(entry))
    .filter(pid => {
      try {
        if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(arg)) return false;
        // /proc/<pid>/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces and parens
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        const pgrp = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
        return group === undefined || pgrp === group;
      } catch {
        return false; // exited while we looked
      }
    })
    .map(Number);
}

/**
 * How many processes run with `--data-dir=<dataDir>` on their command line: only the control
 * plane of the run that made that (temporary, unique) dir.
 */
export const controlPlanesUsing = (dataDir: string): number =>
  pidsWithArg(`--data-dir=${dataDir}`).length;

/**
 * The watcher npm start ran: `node --require exit-with-parent.cjs dist/pepr-<uuid>.js`, in the
 * run's process group (npm start's own, as the watcher is not detached).
 */
export const watchersOf = (run: Run): number[] =>
  run.child.pid ? pidsWithArg(buildOutputs().bundle, run.child.pid) : [];

/**
 * Ctrl-C, then waits until no process of the group is left and every byte they wrote has been
 * read (npm dies of the SIGINT at once; the demo goes on stopping after it).
 */
export async function ctrlCAndWait(run: Run): Promise<void> {
  ctrlC(run);
  await waitFor(
    "every process of npm start to exit",
    () => (groupAlive(run) ? undefined : true),
    60_000,
  );
  await run.finished;
}

/** stdout's parts: the `observed` record, the PeprStore YAML, then the streamed records. */
export function splitStdout(stdout: string): {
  observed: unknown;
  store: unknown;
  streamed: unknown[];
} {
  const [first, ...rest] = stdout.split("\n");
  const streamedAt = rest.findIndex(line => line.startsWith("{"));
  const yamlLines = streamedAt === -1 ? rest : rest.slice(0, streamedAt);
  const streamed = streamedAt === -1 ? [] : rest.slice(streamedAt).filter(l => l !== "");
  return {
    observed: JSON.parse(first),
    store: parse(yamlLines.join("\n")),
    streamed: streamed.map(line => JSON.parse(line)),
  };
}

/** The `observed` records on stdout so far (the first one and the streamed ones). */
export const observedLines = (stdout: string): string[] =>
  stdout.split("\n").filter(line => line.startsWith("{") && JSON.parse(line).msg === "observed");

/** The lines in which npm start announces a change to an existing cluster, prefix removed. */
export const announcements = (stderr: string): string[] =>
  stderr
    .split("\n")
    .filter(line => line.startsWith("      your cluster: "))
    .map(line => line.slice("      your cluster: ".length));

/**
 * `it` for a test whose `npm start` makes its own local cluster: skipped when the tests run with
 * USE_EXISTING_CLUSTER=true, which `npm start` would inherit and use instead.
 */
export const itOnLocalCluster = process.env.USE_EXISTING_CLUSTER !== "true" ? it : it.skip;

/**
 * After each test (`afterEach(killLeftovers)`): SIGKILL to what is left of the process group of
 * each run started since the last call, and wait for its end.
 */
export async function killLeftovers(): Promise<void> {
  const runs = [...startedRuns];
  startedRuns.clear();
  for (const run of runs) {
    if (groupAlive(run) && run.child.pid) {
      process.kill(-run.child.pid, "SIGKILL");
      await run.finished;
    }
  }
}
