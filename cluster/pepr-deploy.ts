// The module deployed as users deploy it: the controller image loaded into the node by its name
// (image/), `npx pepr deploy --yes` against the cluster, and the watcher pod found and its logs
// followed with `kubectl logs -f`, parsed like the local watcher's.
import { spawn } from "node:child_process";
import readline from "node:readline";

import type { V1Pod } from "@kubernetes/client-node";

import { moduleUUID, STORE_NAMESPACE } from "../store/contract";
import type { ControlPlane } from "./controlplane";
import { buildControllerImage, BuildControllerImageOptions, ControllerImage } from "./image";
import { kubectlRun, objectApi } from "./kube";
import { ModuleProcess, watchProcess } from "./local-watcher";
import { loadImageArchive, requireNode } from "./node";
import { repoRoot } from "./paths";
import { waitFor } from "./wait";

/** Namespace of everything `pepr deploy` creates (Pepr's assets put all of it there). */
export const DEPLOY_NAMESPACE = STORE_NAMESPACE;
/** Name of the watcher Deployment and its ServiceAccount prefix (assets/k8sObjects.ts getWatcher). */
export function watcherDeployment(uuid = moduleUUID()): string {
  return `pepr-${uuid}-watcher`;
}
/** The ServiceAccount the watcher pod runs as (assets/rbac.ts serviceAccount: `pepr-<uuid>`). */
export function watcherServiceAccount(uuid = moduleUUID()): string {
  return `pepr-${uuid}`;
}
/** Deadline for `npx pepr deploy`: it builds the module, applies, then waits for the rollout. */
export const DEFAULT_DEPLOY_TIMEOUT_MS = 300_000;
/** Deadline for a Ready watcher pod (Pepr's readiness probe starts after 10 s). */
export const DEFAULT_POD_READY_TIMEOUT_MS = 120_000;

/** Thrown when `npx pepr deploy` fails or does not finish; `output` is what it printed. */
export class DeployError extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
  }
}

/** A controller image loaded into the node's containerd. */
export interface LoadedImage extends ControllerImage {
  /** Seconds `ctr images import` took. */
  loadSeconds: number;
}

/**
 * Builds (or reuses) the controller image and loads it into the node under its name, as `kind
 * load image-archive` does; the watcher pod then starts from it with imagePullPolicy IfNotPresent.
 *
 * @throws NodeError when the cluster has no node; ImageBuildError when the build fails
 */
export async function loadControllerImage(
  cp: ControlPlane,
  options: BuildControllerImageOptions = {},
): Promise<LoadedImage> {
  const node = requireNode(cp.local);
  const image = await buildControllerImage(options);
  const started = Date.now();
  loadImageArchive(node, image.archive);
  cp.controllerImage = image; // deployWatcher then deploys it without loading it again
  return { ...image, loadSeconds: (Date.now() - started) / 1000 };
}

export interface DeployResult {
  /** Everything `npx pepr deploy` printed (stdout and stderr, interleaved by line). */
  output: string;
  /** Wall time of the command: module build, apply, and the wait for the watcher's rollout. */
  seconds: number;
}

/**
 * Runs `npx pepr deploy --yes [-i image]` from the repository against `cp`, as a user would.
 *
 * @param options.image - `-i`: another controller image name (it must be loaded on the node)
 * @param options.cwd - the module folder to deploy from (default: this repository)
 * @param options.onOutput - receives each line it prints
 * @param options.env - extra environment (`LOG_LEVEL=debug` deploys a watcher logging at debug)
 * @throws DeployError on a non-zero exit or at the deadline, with the pods' state
 */
export async function peprDeploy(
  cp: ControlPlane,
  options: {
    image?: string;
    cwd?: string;
    timeoutMs?: number;
    onOutput?: (line: string) => void;
    /** Extra environment: `LOG_LEVEL` becomes the watcher's (Pepr's assets/environment.ts). */
    env?: Record<string, string>;
    /** Ends the deploy (SIGTERM) when the run is asked to stop. */
    abort?: AbortSignal;
  } = {},
): Promise<DeployResult> {
  const started = Date.now();
  const args = ["pepr", "deploy", "--yes", ...(options.image ? ["-i", options.image] : [])];
  const child = spawn("npx", args, {
    cwd: options.cwd ?? repoRoot(),
    env: { ...process.env, KUBECONFIG: cp.kubeconfig, NO_COLOR: "1", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  options.abort?.addEventListener("abort", () => child.kill("SIGTERM"), { once: true });
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream }).on("line", line => {
      lines.push(line);
      options.onOutput?.(line);
    });
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_DEPLOY_TIMEOUT_MS;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGTERM");
  }, timeoutMs);
  const code = await new Promise<number | string>(resolve =>
    child.on("close", (status, signal) => resolve(status ?? signal ?? "unknown")),
  );
  clearTimeout(timer);
  const output = lines.join("\n");
  if (code !== 0) {
    const why = timedOut ? `did not finish in ${timeoutMs}ms` : `exited ${code}`;
    const pods = await kubectlRun(cp, ["get", "pods", "-n", DEPLOY_NAMESPACE, "-o", "wide"]);
    throw new DeployError(
      `npx ${args.join(" ")} ${why}; pods in ${DEPLOY_NAMESPACE}:\n${pods.stdout}${pods.stderr}\n` +
        `its last lines:\n${lines.slice(-15).join("\n")}`,
      output,
    );
  }
  return { output, seconds: (Date.now() - started) / 1000 };
}

/** The watcher pods, as the API server lists them. */
export async function watcherPods(cp: ControlPlane): Promise<V1Pod[]> {
  const labelSelector = `app=${watcherDeployment()}`;
  // list(apiVersion, kind, namespace, pretty, exact, exportt, fieldSelector, labelSelector)
  const api = objectApi(cp);
  const list = await api.list<V1Pod>(
    "v1",
    "Pod",
    DEPLOY_NAMESPACE,
    undefined,
    undefined,
    undefined,
    undefined,
    labelSelector,
  );
  return list.items;
}

function isReady(pod: V1Pod): boolean {
  return (
    !pod.metadata?.deletionTimestamp &&
    (pod.status?.conditions ?? []).some(c => c.type === "Ready" && c.status === "True")
  );
}

/** Whether the pod's container runs (it may not have passed its readiness probe yet). */
function isRunning(pod: V1Pod): boolean {
  return !pod.metadata?.deletionTimestamp && !!pod.status?.containerStatuses?.[0]?.state?.running;
}

/**
 * Waits for a Ready watcher pod that is not being deleted and not one of `exclude`.
 *
 * @param options.running - a pod whose container runs is enough (Pepr's readiness probe waits 10 s)
 * @returns the pod
 */
export function waitForWatcherPod(
  cp: ControlPlane,
  options: { exclude?: string[]; timeoutMs?: number; running?: boolean } = {},
): Promise<V1Pod> {
  const exclude = new Set(options.exclude ?? []);
  const state = options.running ? isRunning : isReady;
  return waitFor(
    `a ${options.running ? "running" : "Ready"} ${watcherDeployment()} pod${exclude.size ? ` other than ${[...exclude]}` : ""}`,
    async () => (await watcherPods(cp)).find(p => state(p) && !exclude.has(p.metadata?.name ?? "")),
    options.timeoutMs ?? DEFAULT_POD_READY_TIMEOUT_MS,
    500,
  );
}

/**
 * Follows a watcher pod's logs (`kubectl logs -f`): its pino records parsed as the local
 * watcher's are; `stop()` ends kubectl, not the pod.
 *
 * @param options.echo - also write each line to stderr
 * @param options.tail - only lines from now on with 0 (`--tail=0`); default: from the pod's start
 */
export function followWatcherLogs(
  cp: ControlPlane,
  pod: string,
  options: { echo?: boolean; tail?: number } = {},
): ModuleProcess {
  const cacheDir = cp.kubectlCacheDir ? [`--cache-dir=${cp.kubectlCacheDir}`] : [];
  const tail = options.tail === undefined ? [] : [`--tail=${options.tail}`];
  const args = [...cacheDir, "logs", "-f", ...tail, "-n", DEPLOY_NAMESPACE, pod];
  const child = spawn(cp.kubectl, args, {
    env: { ...process.env, KUBECONFIG: cp.kubeconfig, KUBERC: "off" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return watchProcess(child, options.echo ?? false);
}
