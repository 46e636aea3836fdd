// Every way a run can be asked to end, as one event: Ctrl-C (SIGINT), SIGTERM, a closed terminal
// (SIGHUP), stdout or stderr closed under us (`| head`, `| tee` gone), or the parent (or npm)
// killed. Each must lead to the same clean stop, which is why `npm start` and
// `npm run cluster -- up` share it.
import { readFileSync } from "node:fs";
import os from "node:os";

/** How often the parent process is checked. */
const PARENT_POLL_MS = 1_000;
/** Signals that ask for a stop; a second SIGINT or SIGTERM exits at once. */
const STOP_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
/** Exit code of a second Ctrl-C (128 + SIGINT), as shells report it. */
export const EXIT_AT_ONCE = 130;

/** A run's stop request: the first reason it was asked to stop. */
export interface StopRequests {
  /** Resolves with the reason ("SIGINT", "stdout closed", ...) on the first request. */
  readonly requested: Promise<string>;
  /** The reason, once asked. */
  reason(): string | undefined;
  /** Removes the handlers (for tests and for a run that ends on its own). */
  dispose(): void;
}

/** The parent pid of `pid` as the kernel sees it now (process.ppid is read once, at start). */
export function parentPid(pid: number | "self" = "self"): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // the command name in parentheses may hold spaces: fields start after the last ")"
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined; // gone
  }
}

/**
 * The processes whose end ends the run: our parent and, under `npm run` (which starts us through
 * `sh -c`, a shell that outlives npm), npm itself.
 */
function watchedAncestors(): { pid: number | "self"; parent: number | undefined }[] {
  const parent = parentPid() as number;
  const chain: { pid: number | "self"; parent: number | undefined }[] = [{ pid: "self", parent }];
  if (process.env.npm_lifecycle_event !== undefined) {
    chain.push({ pid: parent, parent: parentPid(parent) });
  }
  return chain;
}

/**
 * Watches for every stop request. After stdout or stderr is closed under us, writes to it are
 * dropped (an "error" handler keeps Node from throwing), so the stop goes on and reports on the
 * other stream where it still can. A second SIGINT or SIGTERM exits at once with
 * {@link EXIT_AT_ONCE}; a repeated SIGHUP (the terminal and the shell both send one) is ignored.
 *
 * @param say - receives one line naming the request (written to stderr by default)
 */
export function watchStopRequests(
  say: (line: string) => void = line => process.stderr.write(`${line}\n`),
): StopRequests {
  let reason: string | undefined;
  let resolve: (reason: string) => void = () => undefined;
  const requested = new Promise<string>(r => (resolve = r));
  const ask = (why: string, detail: string): void => {
    if (reason !== undefined) return;
    reason = why;
    say(`\n${why}: ${detail}`);
    resolve(why);
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (reason !== undefined && signal !== "SIGHUP") {
      say(`${signal} again: exiting without waiting`);
      process.exit(EXIT_AT_ONCE);
    }
    ask(signal, "stopping... (Ctrl-C again exits at once)");
  };
  const onStreamError = (name: string) => (err: NodeJS.ErrnoException) =>
    ask(`${name} closed`, `stopping (${err.code ?? err.message})`);
  const onStdout = onStreamError("stdout");
  const onStderr = onStreamError("stderr");
  for (const s of STOP_SIGNALS) process.on(s, onSignal);
  process.stdout.on("error", onStdout);
  process.stderr.on("error", onStderr);
  const ancestors = watchedAncestors();
  const poll = setInterval(() => {
    const gone = ancestors.find(a => parentPid(a.pid) !== a.parent);
    if (gone) ask("parent gone", `process ${gone.parent} exited: stopping`);
  }, PARENT_POLL_MS);
  poll.unref();
  return {
    requested,
    reason: () => reason,
    // the stream handlers stay: a write to a closed stream must not throw while the run ends
    dispose: () => {
      clearInterval(poll);
      for (const s of STOP_SIGNALS) process.off(s, onSignal);
    },
  };
}

/**
 * The exit code of a run stopped before it was up: 128 + the signal's number, as a shell reports
 * a job killed by it; 0 when the reader closed stdout (`| head` has what it wanted) or the parent
 * is gone (nobody reads the code).
 */
export function interruptedExitCode(reason: string): number {
  const signal = os.constants.signals[reason as NodeJS.Signals];
  return signal ? 128 + signal : 0;
}
