// The local control plane for tests, the demo and the benchmark, shaped like controller-runtime's
// envtest: `const cp = await startControlPlane()` gives a kubeconfig; `await cp.stop()` undoes it.
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";

import { KubeConfig, VersionApi } from "@kubernetes/client-node";

import { buildControllerImage, ControllerImage } from "./image";
import { buildContainerd, NodeInfo } from "./node";
import { findOnPath, repoRoot } from "./paths";
import { nodeBlocker } from "./requirements";
import { seconds } from "./wait";

/** `USE_EXISTING_CLUSTER=true`: use the current kubeconfig context instead of a local control plane. */
export const ENV_USE_EXISTING_CLUSTER = "USE_EXISTING_CLUSTER";
/** Overrides {@link DEFAULT_START_TIMEOUT_MS}. */
export const ENV_START_TIMEOUT = "CONTROLPLANE_START_TIMEOUT_MS";
/** Deadline for the control plane's ready line once the binary is built. */
export const DEFAULT_START_TIMEOUT_MS = 180_000;
/** Deadline for the control plane to exit after SIGTERM before it is killed. */
export const STOP_TIMEOUT_MS = 30_000;
/**
 * The same with a node: the kubelet, pods and containerd stop first, then the machine is
 * restored. Each of those steps has its own bound in the control plane (20 s a component, 60 s
 * for the pods, 30 s an iptables call); if it is killed anyway, its host-state record (kept
 * outside the data dir) lets the next node start finish the restore.
 */
export const NODE_STOP_TIMEOUT_MS = 300_000;
/**
 * Ready deadline with a node: one node runs per machine, so `up --node` may first wait up to
 * 10 minutes for another run's node to stop (saying so), then start in seconds.
 */
export const NODE_START_TIMEOUT_MS = 780_000;

/** Exit codes of `cluster/controlplane/build.sh` and `controlplane up`, with what they mean. */
const EXIT_MEANINGS: Record<number, string> = {
  3: "a port it needs is already in use",
  4: "its data dir is used by another controlplane",
  5: "its node could not start (the component's log is named above)",
  6: "a component exited after the cluster was up (named above); everything was stopped",
  10: "no Go toolchain on PATH: install Go >= 1.26 (on these machines /usr/local/go/bin)",
  11: "the Go toolchain is older than 1.26",
};

/** What an exit code of `controlplane up` means, if it is one of {@link EXIT_MEANINGS}. */
function meaningOf(code: number | null): string | undefined {
  return code === null ? undefined : EXIT_MEANINGS[code];
}

/** Thrown when the control plane cannot be built, started or reached. */
export class ControlPlaneError extends Error {
  constructor(
    message: string,
    readonly exitCode?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The machine-readable line `controlplane up` prints when it serves. */
export interface ReadyLine {
  ready: true;
  kubeconfig: string;
  server: string;
  control: string;
  /** File (0600) holding the bearer token the control endpoint requires. */
  controlToken: string;
  etcd: string;
  dataDir: string;
  auditLog: string;
  log: string;
  pid: number;
  startSeconds: number;
  /** The node, when started with `node: true` on a machine that can run containers. */
  node?: NodeInfo;
  /** Why there is no node although `node: true` asked for one (one line naming what is missing). */
  nodeSkipped?: string;
}

export interface ControlPlane {
  /** Path of an admin kubeconfig for this control plane. */
  kubeconfig: string;
  /** kubectl from the same Kubernetes release as the control plane. */
  kubectl: string;
  /**
   * kubectl's discovery cache for this control plane (inside its data dir). Ports are reused
   * between runs, so the default ~/.kube/cache could answer for another, long-gone API server.
   * Absent on an existing cluster, where kubectl keeps its usual cache.
   */
  kubectlCacheDir?: string;
  /** The API server URL. */
  server: string;
  /** The control plane's ready line; absent on an existing cluster. */
  local?: ReadyLine;
  /** The controller image in the node, when started with `controllerImage: true` and a node. */
  controllerImage?: ControllerImage;
  /** Stops kube-apiserver, keeping etcd (local control plane only). */
  stopAPIServer(): Promise<void>;
  /** Starts kube-apiserver again and waits until it is ready (local control plane only). */
  startAPIServer(): Promise<void>;
  /** Stops everything it started; idempotent. */
  stop(): Promise<void>;
  /**
   * Resolves with what happened if the local control plane ends on its own (a component exited:
   * the message names it and its log); never once stop() was called, nor on an existing cluster.
   */
  ended?: Promise<string>;
}

export interface StartOptions {
  /** Keep data here (reused on the next start); default a fresh temporary dir removed by stop(). */
  dataDir?: string;
  /** kube-apiserver port; default the last one used in dataDir, or any free port. */
  port?: number;
  /** Print the control plane's progress on stderr (default: only when it fails). */
  progress?: boolean;
  /** Ready deadline in ms (default {@link DEFAULT_START_TIMEOUT_MS} or $CONTROLPLANE_START_TIMEOUT_MS). */
  timeoutMs?: number;
  /**
   * Also run a node (containerd, kubelet, kube-proxy, scheduler, all controllers) so pods run.
   * On a machine that cannot run containers the control plane starts without it and
   * `local.nodeSkipped` says why.
   */
  node?: boolean;
  /** Stops a start that is under way (the control plane then restores the machine and exits). */
  abort?: AbortSignal;
  /**
   * With the node: build (cached) the Pepr controller image `npx pepr deploy` names and import it
   * while the API server starts, so the node is ready with it ({@link ControlPlane.controllerImage}).
   */
  controllerImage?: boolean;
}

/**
 * Builds the control plane binary with controlplane/build.sh (reused when nothing changed).
 *
 * @param progress - pass the build's progress through to stderr
 * @returns the path of the controlplane binary; kubectl is a symlink next to it
 * @throws ControlPlaneError with the build's exit code and what it means
 */
export function buildControlPlane(progress = true): string {
  const script = path.join(repoRoot(), "cluster", "controlplane", "build.sh");
  const result = spawnSync("bash", [script], {
    stdio: ["ignore", "pipe", progress ? "inherit" : "pipe"],
    encoding: "utf8",
  });
  if (result.status !== 0) {
    const code = result.status ?? 1;
    const meaning = EXIT_MEANINGS[code] ?? "see its output above";
    throw new ControlPlaneError(
      `controlplane/build.sh failed (exit ${code}): ${meaning}${progress ? "" : `\n${result.stderr}`}`,
      code,
    );
  }
  const lines = result.stdout.trim().split("\n");
  return lines[lines.length - 1];
}

/**
 * Starts a local control plane (etcd, kube-apiserver, controllers), or with
 * USE_EXISTING_CLUSTER=true checks the current kubeconfig context and uses it with the kubectl on
 * PATH, building nothing (no Go needed).
 *
 * @returns a handle with the kubeconfig and an idempotent stop()
 * @throws ControlPlaneError when it cannot start or the existing cluster is unreachable
 */
export async function startControlPlane(options: StartOptions = {}): Promise<ControlPlane> {
  if (useExisting()) return useExistingCluster();
  const binary = buildControlPlane(options.progress ?? false);
  const kubectl = path.join(path.dirname(binary), "kubectl");

  const started = Date.now();
  const tempDir = options.dataDir ? undefined : mkdtempSync(path.join(os.tmpdir(), "hpsr-cp-"));
  const dataDir = options.dataDir ?? (tempDir as string);
  const args = ["up", `--data-dir=${dataDir}`];
  if (options.port) args.push(`--port=${options.port}`);
  const { nodeArgs, nodeSkipped, image } = await nodeOptions(options);
  args.push(...nodeArgs);
  const node = nodeArgs.length > 0;
  const stopTimeoutMs = node ? NODE_STOP_TIMEOUT_MS : STOP_TIMEOUT_MS;
  // Its own process group: a Ctrl-C in the terminal reaches only us, and stop() shuts it down in
  // order. If we die without stop(), it notices that its parent is gone and stops itself.
  if (options.abort?.aborted)
    throw new ControlPlaneError("stopped before the control plane started");
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
  const onAbort = (): boolean => child.kill("SIGTERM");
  options.abort?.addEventListener("abort", onAbort, { once: true });
  const stderr: string[] = [];
  readline.createInterface({ input: child.stderr! }).on("line", line => {
    stderr.push(line);
    if (options.progress) process.stderr.write(`${line}\n`);
  });
  // "close", not "exit": every line the control plane wrote has been read by then
  const exited = new Promise<number | null>(resolve => child.on("close", code => resolve(code)));
  const timeoutMs =
    options.timeoutMs ??
    Number(
      process.env[ENV_START_TIMEOUT] ?? (node ? NODE_START_TIMEOUT_MS : DEFAULT_START_TIMEOUT_MS),
    );

  let ready: ReadyLine;
  try {
    ready = await readyLine(child, exited, timeoutMs, stderr);
    options.abort?.removeEventListener("abort", onAbort); // from now on, stop() stops it
  } catch (err) {
    await terminate(child, exited, stopTimeoutMs);
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    throw err;
  }
  if (nodeSkipped) ready.nodeSkipped = nodeSkipped;
  if (options.progress) {
    process.stderr.write(`control plane ready in ${seconds(started)}s: ${ready.server}\n`);
  }

  return {
    ...localHandle(child, exited, stderr, ready, kubectl, tempDir, stopTimeoutMs),
    controllerImage: image,
  };
}

/**
 * The node's part of `controlplane up`'s arguments: none without `node`, or when this machine
 * cannot run it (then `nodeSkipped` says why); with `controllerImage`, the image to import.
 */
async function nodeOptions(
  options: StartOptions,
): Promise<{ nodeArgs: string[]; nodeSkipped?: string; image?: ControllerImage }> {
  if (!options.node) return { nodeArgs: [] };
  const nodeSkipped = nodeBlocker(line => process.stderr.write(`host: ${line}\n`));
  if (nodeSkipped) return { nodeArgs: [], nodeSkipped };
  const nodeArgs = ["--node", `--containerd-dir=${buildContainerd(options.progress ?? false)}`];
  if (!options.controllerImage) return { nodeArgs };
  const image = await buildControllerImage({
    onProgress: options.progress ? undefined : () => undefined,
  });
  return { nodeArgs: [...nodeArgs, `--image=${image.archive}`], image };
}

/**
 * Stops or starts the kube-apiserver of a running control plane through its control endpoint
 * (etcd keeps running); start waits until it is ready. Both are idempotent.
 *
 * @param ready - the control plane's ready line (its control endpoint and token file)
 * @param verb - "stop" or "start"
 * @throws ControlPlaneError with the control plane's error
 */
export async function switchAPIServer(
  ready: Pick<ReadyLine, "control" | "controlToken">,
  verb: "start" | "stop",
): Promise<void> {
  const token = readFileSync(ready.controlToken, "utf8").trim();
  const res = await fetch(`${ready.control}/apiserver/${verb}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
  });
  const body = (await res.json()) as { error?: string };
  if (!res.ok) throw new ControlPlaneError(`kube-apiserver ${verb}: ${body.error ?? res.status}`);
}

/** The handle of a started local control plane: its API server switch and an idempotent stop. */
function localHandle(
  child: ChildProcess,
  exited: Promise<number | null>,
  stderr: string[],
  ready: ReadyLine,
  kubectl: string,
  tempDir: string | undefined,
  stopTimeoutMs: number,
): ControlPlane {
  let stopped: Promise<void> | undefined;
  const ended = exited.then(code => {
    if (stopped) return new Promise<string>(() => undefined);
    const last = [...stderr].reverse().find(line => line.startsWith("controlplane: "));
    const meaning = meaningOf(code);
    const why = last?.slice("controlplane: ".length) ?? "no message";
    return `the control plane exited with ${code}${meaning ? ` (${meaning})` : ""}: ${why}`;
  });
  const stop = async (): Promise<void> => {
    const errors: unknown[] = [];
    const code = await terminate(child, exited, stopTimeoutMs);
    if (code !== 0)
      errors.push(new ControlPlaneError(`controlplane exited with ${code}`, code ?? 1));
    try {
      if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    } catch (err) {
      errors.push(err);
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, "stopping the control plane failed");
  };
  return {
    kubeconfig: ready.kubeconfig,
    kubectl,
    kubectlCacheDir: path.join(ready.dataDir, "kubectl-cache"),
    server: ready.server,
    local: ready,
    stopAPIServer: () => switchAPIServer(ready, "stop"),
    startAPIServer: () => switchAPIServer(ready, "start"),
    stop: () => (stopped ??= stop()),
    ended,
  };
}

/** Reads the child's stdout until the ready line, failing on exit or after the deadline. */
function readyLine(
  child: ChildProcess,
  exited: Promise<number | null>,
  timeoutMs: number,
  stderr: string[],
): Promise<ReadyLine> {
  return new Promise<ReadyLine>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new ControlPlaneError(
            `timeout waiting for the control plane's ready line after ${timeoutMs}ms\n${stderr.join("\n")}`,
          ),
        ),
      timeoutMs,
    );
    readline.createInterface({ input: child.stdout! }).on("line", line => {
      try {
        const parsed = JSON.parse(line) as ReadyLine;
        if (parsed.ready) {
          clearTimeout(timer);
          resolve(parsed);
        }
      } catch {
        // not the ready line
      }
    });
    void exited.then(code => {
      clearTimeout(timer);
      const meaning = meaningOf(code) ? `: ${meaningOf(code)}` : "";
      reject(
        new ControlPlaneError(
          `the control plane exited with ${code} before it was ready${meaning}\n${stderr.join("\n")}`,
          code ?? 1,
        ),
      );
    });
  });
}

/** SIGTERM, then SIGKILL after timeoutMs; resolves with the exit code. */
async function terminate(
  child: ChildProcess,
  exited: Promise<number | null>,
  timeoutMs: number,
): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

/** Whether USE_EXISTING_CLUSTER=true asks for the current kubeconfig context. */
export function useExisting(): boolean {
  return process.env[ENV_USE_EXISTING_CLUSTER] === "true";
}

/**
 * Checks that the current kubeconfig context answers (GET /version through client-node) and that
 * a kubectl is on PATH, and wraps them as a ControlPlane whose stop() leaves the cluster running.
 */
async function useExistingCluster(): Promise<ControlPlane> {
  const kubeconfig = process.env.KUBECONFIG || path.join(os.homedir(), ".kube", "config");
  const kc = new KubeConfig();
  let server = "";
  try {
    kc.loadFromDefault();
    server = kc.getCurrentCluster()?.server ?? "";
    await kc.makeApiClient(VersionApi).getCode();
  } catch (err) {
    throw new ControlPlaneError(
      `${ENV_USE_EXISTING_CLUSTER}=true but the cluster of ${kubeconfig} is unreachable (server ${server || "unknown"}): ${(err as Error).message}`,
      1,
      { cause: err },
    );
  }
  const kubectl = findOnPath("kubectl");
  if (!kubectl) {
    throw new ControlPlaneError(
      `${ENV_USE_EXISTING_CLUSTER}=true uses the kubectl on your PATH, and there is none: install kubectl`,
      1,
    );
  }
  const unsupported = (): Promise<void> =>
    Promise.reject(new ControlPlaneError("only a local control plane can stop its API server"));
  return {
    kubeconfig,
    kubectl,
    server,
    stopAPIServer: unsupported,
    startAPIServer: unsupported,
    stop: () => Promise.resolve(),
  };
}
