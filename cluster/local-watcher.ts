// Runs the Pepr module's watcher as a local Node process against a control plane, as the
// in-cluster watcher Deployment would (and as `pepr dev` does): PEPR_WATCH_MODE=true node
// dist/pepr-<uuid>.js with a kubeconfig and a TLS pair for its /healthz server.
import { ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, readdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";

// Pepr's own PeprStore CRD object, as `pepr deploy`, `pepr dev` and the in-cluster controller
// apply it (it is not in the `pepr build` manifest, and Pepr's package entry does not export it).
import { peprStoreCRD } from "pepr/src/lib/assets/store";

import { PEPR_STORE_RESOURCE, STORE_NAMESPACE } from "../store/contract";
import type { ClusterChanges } from "./changes";
import type { ControlPlane } from "./controlplane";
import { applyObject, ensureNamespace, waitForCrdEstablished } from "./kube";
import { buildOutputs, repoRoot } from "./paths";
import { describeMissing, ensureRequirements } from "./requirements";
import { assertPortsFree, WATCHER } from "./ports.cjs";
import { seconds, TimeoutError } from "./wait";

/** Log line that says the watcher's store is loaded and bindings are live (pepr src/lib/controller/index.ts). */
export const STARTUP_COMPLETE = "Controller startup complete";
/**
 * Start of the info record a watcher logs when its store is loaded and it starts serving, the
 * first one a deployed watcher (log level info) shows once its bindings are live (pepr
 * src/lib/controller/index.ts, startServer).
 */
export const SERVING = "Feature flag store initialized";
/** Error record when Pepr's first store Get and Create both failed (src/lib/controller/store.ts). */
export const STORE_CREATE_FAILED = "Failed to create Pepr store";
/** Deadline for {@link STARTUP_COMPLETE}: Pepr waits up to 3 s of jitter before reading its store. */
export const DEFAULT_MODULE_START_TIMEOUT_MS = 60_000;
/** Deadline for the watcher to exit after SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 10_000;
/** Preloaded into the watcher so that it stops when the process that started it dies. */
const EXIT_WITH_PARENT = path.join(__dirname, "exit-with-parent.cjs");
const LISTEN_LOOPBACK = path.join(__dirname, "listen-loopback.cjs");

/** Pepr's PeprStore CRD (node_modules/pepr/src/lib/assets/store.ts `peprStoreCRD`). */
export const PEPR_STORE_CRD = peprStoreCRD;
/** Deadline for the PeprStore CRD to be Established after it is applied. */
const CRD_ESTABLISHED_TIMEOUT_MS = 60_000;

/** One pino log record of the watcher. */
export interface LogRecord {
  level: number;
  time: number;
  msg: string;
  [field: string]: unknown;
}

export interface ModuleProcess {
  pid: number;
  /** Every JSON log record so far, parsed, in order. */
  logs: LogRecord[];
  /** Lines of stdout/stderr that are not JSON (stack traces, Node warnings). */
  otherOutput: string[];
  /** Resolves with the record `match` accepts (already logged or future), or rejects at the deadline. */
  waitForLog(
    what: string,
    match: (r: LogRecord) => boolean,
    timeoutMs?: number,
  ): Promise<LogRecord>;
  /** Calls `listener` with every record logged from now on; returns the unsubscribe function. */
  onLog(listener: (r: LogRecord) => void): () => void;
  /** Resolves with the exit code (or signal name) when the process exits. */
  exited: Promise<number | string>;
  /** Sends a signal without waiting. */
  kill(signal: NodeJS.Signals): void;
  /** SIGTERM, SIGKILL after a deadline; idempotent. */
  stop(): Promise<void>;
}

/**
 * Builds the module with `npx pepr build` unless dist/ is newer than every source.
 *
 * @returns the paths of the bundle and the deploy manifest
 */
export function buildModule(progress = false): { bundle: string; manifest: string } {
  const root = repoRoot();
  const out = buildOutputs(root);
  const sources = [
    path.join(root, "pepr.ts"),
    path.join(root, "package.json"),
    ...readdirSync(path.join(root, "capabilities")).map(f => path.join(root, "capabilities", f)),
  ];
  const newest = Math.max(...sources.map(f => statSync(f).mtimeMs));
  if (
    existsSync(out.bundle) &&
    existsSync(out.manifest) &&
    statSync(out.manifest).mtimeMs > newest
  ) {
    return out;
  }
  const started = Date.now();
  if (progress) process.stderr.write("building the module: npx pepr build ...\n");
  const result = spawnSync("npx", ["pepr", "build"], { cwd: root, encoding: "utf8" });
  if (result.status !== 0) {
    throw new Error(
      `npx pepr build failed (exit ${result.status}):\n${result.stdout}\n${result.stderr}`,
    );
  }
  if (progress) process.stderr.write(`module built in ${seconds(started)}s\n`);
  return out;
}

/**
 * Creates the pepr-system namespace and the PeprStore CRD, and waits until the CRD is served.
 *
 * @param changes - on a cluster that is not ours: announce each change, never touch what exists,
 *   and let `changes.undo()` remove what was created. Without it the CRD is applied (forced).
 */
export async function prepareCluster(
  cp: Pick<ControlPlane, "kubeconfig">,
  changes?: ClusterChanges,
): Promise<void> {
  const namespace = { apiVersion: "v1", kind: "Namespace", metadata: { name: STORE_NAMESPACE } };
  if (changes) {
    await changes.ensure(namespace);
    await changes.ensure(PEPR_STORE_CRD);
  } else {
    await ensureNamespace(cp, STORE_NAMESPACE);
    await applyObject(cp, PEPR_STORE_CRD);
  }
  await waitForCrdEstablished(cp, PEPR_STORE_RESOURCE, CRD_ESTABLISHED_TIMEOUT_MS);
}

/** Makes a self-signed TLS pair for the watcher's /healthz server (openssl). */
export function makeTLSPair(dir: string): { key: string; cert: string } {
  const key = path.join(dir, "tls.key");
  const cert = path.join(dir, "tls.crt");
  const missing = ensureRequirements(["watcher"], line => process.stderr.write(`host: ${line}\n`));
  if (missing.length > 0)
    throw new Error(`cannot make the watcher's TLS pair: ${describeMissing(missing)}`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    { stdio: "ignore", timeout: 60_000 },
  );
  return { key, cert };
}

/**
 * Fails with a clear message when something listens on the watcher's fixed port, after waiting
 * up to $WATCHER_PORT_WAIT_MS for it to be released (for runs that share a machine).
 *
 * @throws PortInUseError naming the port and what needs it
 */
export function assertWatcherPortFree(): Promise<void> {
  return assertPortsFree([WATCHER]);
}

export interface ModuleOptions {
  /** kubeconfig for the watcher (default the control plane's admin kubeconfig). */
  kubeconfig?: string;
  /** Extra environment (e.g. LOG_LEVEL). */
  env?: Record<string, string>;
  /** Skip `prepareCluster` (the namespace and CRD must then exist, or be missing on purpose). */
  skipPrepare?: boolean;
  /** Wait for {@link STARTUP_COMPLETE} (default true). */
  waitReady?: boolean;
  timeoutMs?: number;
  /** Echo the watcher's log lines on stderr. */
  echo?: boolean;
}

/**
 * Builds the module if needed, prepares the cluster and starts the watcher.
 *
 * @returns the running watcher, after it logged {@link STARTUP_COMPLETE}
 * @throws when the build fails, the port is busy, or startup does not complete in time
 */
export async function startModule(
  cp: ControlPlane,
  options: ModuleOptions = {},
): Promise<ModuleProcess> {
  const { bundle } = buildModule();
  if (!options.skipPrepare) await prepareCluster(cp);
  await assertWatcherPortFree();
  const tlsDir = mkdtempSync(path.join(os.tmpdir(), "hpsr-tls-"));
  const tls = makeTLSPair(tlsDir);
  const child = spawn(
    process.execPath,
    ["--require", EXIT_WITH_PARENT, "--require", LISTEN_LOOPBACK, bundle],
    {
      cwd: repoRoot(),
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        KUBECONFIG: options.kubeconfig ?? cp.kubeconfig,
        PEPR_WATCH_MODE: "true",
        PEPR_PRETTY_LOG: "false",
        LOG_LEVEL: "debug", // "Controller startup complete" is a debug record
        SSL_KEY_PATH: tls.key,
        SSL_CERT_PATH: tls.cert,
        ...options.env,
      },
    },
  );
  const proc = watchProcess(child, options.echo ?? false);
  void proc.exited.finally(() => rmSync(tlsDir, { recursive: true, force: true }));
  if (options.waitReady ?? true) {
    try {
      const first = await proc.waitForLog(
        `watcher "${STARTUP_COMPLETE}"`,
        r => r.msg === STARTUP_COMPLETE || r.msg === STORE_CREATE_FAILED,
        options.timeoutMs ?? DEFAULT_MODULE_START_TIMEOUT_MS,
      );
      if (first.msg === STORE_CREATE_FAILED) {
        throw new Error(
          `the watcher could not read or create its PeprStore (is the PeprStore CRD installed and ` +
            `the pepr-system namespace there?); Pepr 1.1.4 does not retry, so it would never start`,
        );
      }
    } catch (err) {
      await proc.stop();
      const tail = [
        ...proc.logs.slice(-10).map(r => JSON.stringify(r)),
        ...proc.otherOutput.slice(-10),
      ];
      throw new Error(`${(err as Error).message}\nlast output:\n${tail.join("\n")}`, {
        cause: err,
      });
    }
  }
  return proc;
}

/** Resolves with the first record `match` accepts, logged already or later; rejects at the deadline or on exit. */
function waitForRecord(
  logs: LogRecord[],
  listeners: Set<(r: LogRecord) => void>,
  exited: Promise<number | string>,
  what: string,
  match: (r: LogRecord) => boolean,
  timeoutMs: number,
): Promise<LogRecord> {
  const seen = logs.find(match);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve, reject) => {
    const done = (): void => {
      listeners.delete(listener);
      clearTimeout(timer);
    };
    const listener = (r: LogRecord): void => {
      if (match(r)) {
        done();
        resolve(r);
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new TimeoutError(`timeout waiting for ${what} after ${timeoutMs}ms`));
    }, timeoutMs);
    listeners.add(listener);
    void exited.then(code => {
      if (!listeners.has(listener)) return;
      done();
      reject(new Error(`watcher exited (${code}) while waiting for ${what}`));
    });
  });
}

/** Follows a watcher started some other way (e.g. under runc): its log records, exit and stop(). */
export function watchProcess(child: ChildProcess, echo: boolean): ModuleProcess {
  const logs: LogRecord[] = [];
  const otherOutput: string[] = [];
  const listeners = new Set<(r: LogRecord) => void>();
  const onLine = (line: string): void => {
    if (echo) process.stderr.write(`${line}\n`);
    let record: LogRecord | undefined;
    try {
      const parsed = JSON.parse(line);
      if (parsed && typeof parsed === "object" && typeof parsed.msg === "string") record = parsed;
    } catch {
      // not JSON
    }
    if (!record) {
      otherOutput.push(line);
      return;
    }
    logs.push(record);
    for (const listener of listeners) listener(record);
  };
  readline.createInterface({ input: child.stdout! }).on("line", onLine);
  readline.createInterface({ input: child.stderr! }).on("line", onLine);
  const exited = new Promise<number | string>(resolve =>
    child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  let stopping: Promise<void> | undefined;

  return {
    pid: child.pid ?? -1,
    logs,
    otherOutput,
    exited,
    kill: signal => void child.kill(signal),
    onLog(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    waitForLog: (what, match, timeoutMs = DEFAULT_MODULE_START_TIMEOUT_MS) =>
      waitForRecord(logs, listeners, exited, what, match, timeoutMs),
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}
