// Which cluster to talk to. kubernetes-fluent-client has no kubeconfig option: it builds a
// KubeConfig with loadFromDefault() for every request (fluent/utils.ts k8sCfg), which reads
// $KUBECONFIG (a path list, merged; a later file's current-context wins), else ~/.kube/config,
// else the in-cluster service account. So a kubeconfig or context is applied by setting
// $KUBECONFIG for as long as the requests run; a context is selected by appending a file that
// holds nothing but `current-context` (no credentials are copied).
import { KubeConfig, findHomeDir } from "@kubernetes/client-node";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { KubeconfigError } from "./errors";

/** The environment variable kubernetes-fluent-client (through @kubernetes/client-node) reads. */
export const ENV_KUBECONFIG = "KUBECONFIG";

/** Where to find the cluster; both default to the usual resolution. */
export interface KubeconfigOptions {
  /** kubeconfig path, or a list separated like $KUBECONFIG (default: $KUBECONFIG, then ~/.kube/config). */
  kubeconfig?: string;
  /** Context to use (default: the kubeconfig's current-context). */
  context?: string;
}

/** The cluster the requests go to. */
export interface ClusterTarget {
  /** The kubeconfig path(s), or `in-cluster service account`. */
  source: string;
  /** The context used. */
  context: string;
  /** The API server URL. */
  server: string;
}

/** A kubeconfig in effect for kubernetes-fluent-client until `restore()`. */
export interface KubeconfigInUse {
  target: ClusterTarget;
  /** Puts $KUBECONFIG back as it was and removes the context file; idempotent. */
  restore(): void;
}

/**
 * Points kubernetes-fluent-client at a kubeconfig and context by setting $KUBECONFIG, and checks
 * that they name a cluster. Without options it changes nothing and only checks.
 *
 * @param options - kubeconfig path(s) and context
 * @returns the cluster the requests will go to, and `restore()` to undo the change
 * @throws KubeconfigError when no kubeconfig is found, it cannot be read, the context does not
 *   exist or has no cluster
 */
export function useKubeconfig(options: KubeconfigOptions = {}): KubeconfigInUse {
  const previous = process.env[ENV_KUBECONFIG];
  const files = kubeconfigFiles(options, previous);
  const source = files ?? "in-cluster service account";

  let contextDir: string | undefined;
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    if (previous === undefined) delete process.env[ENV_KUBECONFIG];
    else process.env[ENV_KUBECONFIG] = previous;
    if (contextDir) rmSync(contextDir, { recursive: true, force: true });
  };

  let value = files;
  if (options.context !== undefined && files !== undefined) {
    contextDir = mkdtempSync(path.join(os.tmpdir(), "pepr-store-context-"));
    value = `${files}${path.delimiter}${contextOnlyFile(contextDir, options.context)}`;
  }
  if (value !== undefined) process.env[ENV_KUBECONFIG] = value;
  try {
    return { target: currentTarget(source, options.context), restore };
  } catch (err) {
    restore();
    throw err;
  }
}

/**
 * The kubeconfig path(s) loadFromDefault would read: the option, $KUBECONFIG, ~/.kube/config;
 * `undefined` in a pod without them (its service account).
 *
 * @throws KubeconfigError when there is none and this is not a pod (or a context was asked for)
 */
function kubeconfigFiles(
  options: KubeconfigOptions,
  previous: string | undefined,
): string | undefined {
  const files = options.kubeconfig ?? (previous ? previous : undefined);
  if (files !== undefined) return files;
  // ~/.kube/config as loadFromDefault finds it (findHomeDir: $HOME on Linux and macOS)
  const home = findHomeDir();
  const homeConfig = home === null ? undefined : path.join(home, ".kube", "config");
  if (homeConfig !== undefined && existsSync(homeConfig)) return homeConfig;
  if (options.context === undefined && process.env.KUBERNETES_SERVICE_HOST) return undefined;
  const looked = homeConfig === undefined ? "$HOME is unset" : `${homeConfig} does not exist`;
  const pod = " and this is not a pod (KUBERNETES_SERVICE_HOST is unset)";
  throw new KubeconfigError(
    `no kubeconfig: $${ENV_KUBECONFIG} is unset, ${looked}${options.context === undefined ? pod : ""}`,
  );
}

/** Writes, in dir, a kubeconfig holding nothing but `current-context` (no credentials). */
function contextOnlyFile(dir: string, context: string): string {
  const file = path.join(dir, "kubeconfig");
  writeFileSync(
    file,
    `apiVersion: v1\nkind: Config\ncurrent-context: ${JSON.stringify(context)}\n`,
    { mode: 0o600 },
  );
  return file;
}

/**
 * The cluster $KUBECONFIG (as set now) names, as kubernetes-fluent-client will load it.
 *
 * @throws KubeconfigError when it cannot be read, or its context is missing or has no cluster
 */
function currentTarget(source: string, asked: string | undefined): ClusterTarget {
  const config = new KubeConfig();
  try {
    config.loadFromDefault();
  } catch (err) {
    throw new KubeconfigError(`kubeconfig ${source}: ${(err as Error).message}`, { cause: err });
  }
  const context = config.getCurrentContext();
  const names = config.getContexts().map(c => c.name);
  if (!context) {
    throw new KubeconfigError(
      `kubeconfig ${source}: no current-context; contexts: ${names.join(", ") || "none"}`,
    );
  }
  if (!names.includes(context)) {
    const which = asked === undefined ? "current-context" : "context";
    throw new KubeconfigError(
      `${which} "${context}" is not in kubeconfig ${source}; contexts: ${names.join(", ") || "none"}`,
    );
  }
  const cluster = config.getCurrentCluster();
  if (!cluster) {
    throw new KubeconfigError(`kubeconfig ${source}: context "${context}" names no known cluster`);
  }
  return { source, context, server: cluster.server };
}
