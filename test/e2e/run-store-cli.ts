// Running the package's CLI as a user does: the bin (bin/hello-pepr-store-resources.cjs, run by
// its shebang) or `npx hello-pepr-store-resources`, as a child process from the repo root.
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import readline from "node:readline";

import { repoRoot, TimeoutError } from "../../cluster";

/** The CLI's name: the package's bin. */
export const CLI_NAME = "hello-pepr-store-resources";
/** Deadline for one CLI run that is expected to end by itself. */
export const DEFAULT_CLI_TIMEOUT_MS = 60_000;
/** Deadline for the CLI to exit after a signal. */
const SIGNAL_TIMEOUT_MS = 10_000;

/**
 * Compiles store/ into build/store/ with `npm run build:store` unless the output is newer than
 * every source (`npm ci` does it once; this catches edits since).
 *
 * @throws Error with tsc's output when the build fails
 */
export function buildStoreCli(): void {
  const root = repoRoot();
  const sources = readdirSync(path.join(root, "store"))
    .filter(f => f.endsWith(".ts"))
    .map(f => path.join(root, "store", f));
  const newest = Math.max(...sources.map(f => statSync(f).mtimeMs));
  const outputs = sources.map(f =>
    path.join(root, "build", "store", `${path.basename(f, ".ts")}.js`),
  );
  if (outputs.every(f => existsSync(f) && statSync(f).mtimeMs >= newest)) return;
  const result = spawnSync("npm", ["run", "--silent", "build:store"], {
    cwd: root,
    encoding: "utf8",
  });
  if (result.status !== 0) {
    throw new Error(
      `npm run build:store failed (exit ${result.status}):\n${result.stdout}\n${result.stderr}`,
    );
  }
}

/** How a CLI run ended. */
export interface CliResult {
  /** The exit code, or `null` when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** KUBECONFIG for the child (the child's env has no other KUBECONFIG). */
  kubeconfig?: string;
  /** Extra environment. */
  env?: Record<string, string>;
  /** Run through `npx <name>` instead of the bin file. */
  npx?: boolean;
}

/** A running CLI, for --watch. */
export interface CliProcess {
  /** stdout and stderr lines so far. */
  stdout: string[];
  stderr: string[];
  /** Resolves with the lines once `done(lines)` is true; rejects at the deadline or on exit. */
  waitForLines(
    stream: "stdout" | "stderr",
    what: string,
    done: (lines: string[]) => boolean,
    timeoutMs?: number,
  ): Promise<string[]>;
  /** Sends `signal` and resolves when the process has exited (SIGKILL after a deadline). */
  stop(signal?: NodeJS.Signals): Promise<CliResult>;
  /** Resolves when the process exits. */
  exited: Promise<CliResult>;
}

function spawnCli(args: string[], options: CliOptions): ChildProcess {
  const root = repoRoot();
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  delete env.KUBECONFIG;
  if (options.kubeconfig !== undefined) env.KUBECONFIG = options.kubeconfig;
  // Tests compare stderr exactly: no Node flags or warnings from the CI environment, and no
  // "new npm version" notice from npx.
  delete env.NODE_OPTIONS;
  delete env.NODE_TLS_REJECT_UNAUTHORIZED;
  env.npm_config_update_notifier = "false";
  const [command, argv] = options.npx
    ? ["npx", ["--no", CLI_NAME, ...args]]
    : [path.join(root, "bin", `${CLI_NAME}.cjs`), args];
  return spawn(command, argv, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
}

/** The output lines of a running CLI so far. */
interface Output {
  stdout: string[];
  stderr: string[];
}

/** Resolves with a stream's lines once `done(lines)` is true; rejects at the deadline or on exit. */
function waitForLines(
  lines: Output,
  listeners: Set<() => void>,
  exited: Promise<CliResult>,
  wait: {
    stream: "stdout" | "stderr";
    what: string;
    done: (lines: string[]) => boolean;
    timeoutMs: number;
  },
): Promise<string[]> {
  const { stream, what, done, timeoutMs } = wait;
  return new Promise((resolve, reject) => {
    const finish = (): void => {
      listeners.delete(check);
      clearTimeout(timer);
    };
    const check = (): void => {
      if (done(lines[stream])) {
        finish();
        resolve([...lines[stream]]);
      }
    };
    const timer = setTimeout(() => {
      finish();
      reject(
        new TimeoutError(
          `timeout waiting for ${what} on ${CLI_NAME}'s ${stream} after ${timeoutMs}ms; stdout:\n${lines.stdout.join("\n")}\nstderr:\n${lines.stderr.join("\n")}`,
        ),
      );
    }, timeoutMs);
    listeners.add(check);
    void exited.then(result => {
      if (!listeners.has(check)) return;
      finish();
      reject(
        new Error(
          `${CLI_NAME} exited (${result.code ?? result.signal}) while waiting for ${what}:\n${result.stderr}`,
        ),
      );
    });
    check();
  });
}

/**
 * Starts the CLI and collects its output line by line.
 *
 * @param args - the arguments, e.g. `["store", "--watch"]`
 * @param options - kubeconfig and environment
 * @returns the running process
 */
export function startCli(args: string[], options: CliOptions = {}): CliProcess {
  const child = spawnCli(args, options);
  const lines = { stdout: [] as string[], stderr: [] as string[] };
  const listeners = new Set<() => void>();
  const streams = { stdout: child.stdout, stderr: child.stderr };
  const closed = Object.entries(streams).map(([name, stream]) => {
    if (stream === null) throw new Error(`${CLI_NAME}: no ${name} pipe`);
    const rl = readline.createInterface({ input: stream });
    rl.on("line", line => {
      lines[name as "stdout" | "stderr"].push(line);
      for (const listener of listeners) listener();
    });
    return new Promise<void>(resolve => rl.on("close", resolve));
  });
  const exited = new Promise<CliResult>(resolve =>
    child.on("exit", (code, signal) => {
      void Promise.all(closed).then(() =>
        resolve({
          code,
          signal,
          stdout: lines.stdout.map(l => `${l}\n`).join(""),
          stderr: lines.stderr.map(l => `${l}\n`).join(""),
        }),
      );
    }),
  );
  let stopping: Promise<CliResult> | undefined;

  return {
    ...lines,
    exited,
    waitForLines: (stream, what, done, timeoutMs = DEFAULT_CLI_TIMEOUT_MS) =>
      waitForLines(lines, listeners, exited, { stream, what, done, timeoutMs }),
    stop(signal = "SIGTERM") {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        const timer = setTimeout(() => child.kill("SIGKILL"), SIGNAL_TIMEOUT_MS);
        const result = await exited;
        clearTimeout(timer);
        return result;
      })();
      return stopping;
    },
  };
}

/**
 * Runs the CLI to the end.
 *
 * @param args - the arguments, e.g. `["store", "-o", "json"]`
 * @param options - kubeconfig and environment
 * @param timeoutMs - deadline, after which the process is killed and this rejects
 * @returns its exit code, stdout and stderr
 */
export async function runCli(
  args: string[],
  options: CliOptions = {},
  timeoutMs = DEFAULT_CLI_TIMEOUT_MS,
): Promise<CliResult> {
  const proc = startCli(args, options);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void proc.stop("SIGKILL");
      reject(
        new TimeoutError(
          `timeout waiting for ${CLI_NAME} ${args.join(" ")} to exit after ${timeoutMs}ms`,
        ),
      );
    }, timeoutMs);
  });
  try {
    return await Promise.race([proc.exited, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
