// The node of the local cluster: containerd (built by containerd/build.sh), the kubelet,
// kube-proxy, kube-scheduler and kube-controller-manager, started by `controlplane up --node`.
// This file builds containerd, reads the node part of the ready line and loads images.
import { spawnSync } from "node:child_process";
import path from "node:path";

import { repoRoot } from "./paths";

/** The `node` part of `controlplane up --node`'s ready line. */
export interface NodeInfo {
  /** The Node's name. */
  name: string;
  /** The address the kubelet serves on and the API server advertises. */
  ip: string;
  /** containerd's socket. */
  containerd: string;
  /** ctr from the same containerd build. */
  ctr: string;
  /** containerd namespace of the CRI: images for pods go there. */
  namespace: string;
  /** `ctr --address SOCKET -n k8s.io images import` as one line, for people. */
  importImage: string;
  /** Folder of the components' logs. */
  logs: string;
  /** Seconds from the start of `up` to the Node being Ready. */
  readySeconds: number;
}

/** Thrown when the node cannot be built or is not running. */
export class NodeError extends Error {}

/**
 * Builds containerd, its runc shim, ctr and the pause image with cluster/containerd/build.sh
 * (reused when nothing changed).
 *
 * @returns the folder holding them, for `controlplane up --containerd-dir`
 */
export function buildContainerd(progress = true): string {
  const script = path.join(repoRoot(), "cluster", "containerd", "build.sh");
  const result = spawnSync("bash", [script], {
    stdio: ["ignore", "pipe", progress ? "inherit" : "pipe"],
    encoding: "utf8",
  });
  if (result.status !== 0) {
    throw new NodeError(
      `cluster/containerd/build.sh failed (exit ${result.status})${progress ? "" : `\n${result.stderr}`}`,
    );
  }
  const lines = result.stdout.trim().split("\n");
  return lines[lines.length - 1];
}

/**
 * The running node of a cluster started with `node: true`.
 *
 * @throws NodeError naming what the machine lacks when the node did not start
 */
export function requireNode(
  ready: { node?: NodeInfo; nodeSkipped?: string } | undefined,
): NodeInfo {
  if (ready?.node) return ready.node;
  throw new NodeError(
    ready?.nodeSkipped
      ? `the cluster has no node: ${ready.nodeSkipped}`
      : "the cluster has no node: start it with startControlPlane({ node: true })",
  );
}

/** Bound of one `ctr images import` (the controller image takes 1-3 s), as the control plane's. */
const IMAGE_IMPORT_TIMEOUT_MS = 300_000;

/**
 * Imports an OCI (or docker save) image archive into the node's containerd, as
 * `kind load image-archive` does; pods then use it with imagePullPolicy IfNotPresent or Never.
 *
 * @param baseName - image name for an archive whose index names only a tag (umoci's do)
 * @returns ctr's output (the imported image names)
 */
export function loadImageArchive(node: NodeInfo, archive: string, baseName?: string): string {
  const args = ["--address", node.containerd, "-n", node.namespace, "images", "import"];
  if (baseName) args.push("--base-name", baseName);
  args.push(archive);
  const result = spawnSync(node.ctr, args, { encoding: "utf8", timeout: IMAGE_IMPORT_TIMEOUT_MS });
  if (result.status !== 0) {
    const why = result.error ? result.error.message : `exit ${result.status}`;
    throw new NodeError(`ctr images import ${archive} failed (${why}): ${result.stderr}`);
  }
  return result.stdout;
}

/**
 * Writes a one-layer OCI image archive of `rootfs` with cluster/containerd/oci-archive.sh
 * (umoci), ready for {@link loadImageArchive} with a base name.
 */
export function writeImageArchive(
  rootfs: string,
  archive: string,
  tag: string,
  entrypoint: string,
): void {
  const script = path.join(repoRoot(), "cluster", "containerd", "oci-archive.sh");
  const result = spawnSync("bash", [script, archive, tag, rootfs, entrypoint], {
    encoding: "utf8",
  });
  if (result.status !== 0) {
    throw new NodeError(
      `oci-archive.sh ${archive} failed (exit ${result.status}): ${result.stderr}`,
    );
  }
}
