// The local-cluster package: a real Kubernetes control plane on 127.0.0.1 (./controlplane/, Go),
// the module's watcher as a local process, and the ways to talk to both. `npm start`
// (scripts/start.ts), the benchmark (bench/) and the e2e tests (test/e2e/) are its callers; it
// imports none of them. See README.md in this folder.

/** Build and start the control plane (or use an existing cluster), and stop it. */
export { buildControlPlane, startControlPlane, ControlPlaneError } from "./controlplane";
/** Whether USE_EXISTING_CLUSTER=true is set. */
export { useExisting } from "./controlplane";
/** The control plane handle and its ready line. */
export type { ControlPlane, ReadyLine } from "./controlplane";
/** The environment variable that selects an existing cluster. */
export { ENV_USE_EXISTING_CLUSTER } from "./controlplane";

/** The node (`startControlPlane({ node: true })`): containerd's build, whether it can run, images. */
export { buildContainerd, requireNode, loadImageArchive } from "./node";

/** The module's watcher on a cluster, deployed (`npx pepr deploy`) or as a local process. */
export { deployWatcher } from "./watcher";
export type { Watcher } from "./watcher";
/** Build the module (`npx pepr build`), prepare a cluster for it and run its watcher. */
export { buildModule, prepareCluster, startModule, assertWatcherPortFree } from "./local-watcher";
/** The running watcher, its options and its parsed log records. */
export type { ModuleProcess, LogRecord } from "./local-watcher";
/** The watcher's start-up log message. */
export { STARTUP_COMPLETE } from "./local-watcher";
/** The fixed ports a run needs, checked before anything is built. */
export { assertPortsFree } from "./ports.cjs";

/** Objects through @kubernetes/client-node: read, create, delete, wait for the store; how the API server refused a request. */
export {
  objectApi,
  isStatus,
  getStore,
  patchStore,
  readStoreAsSent,
  mergePatchObject,
  peprStoreObject,
  namespaceObject,
  crdObject,
  waitForStore,
  readObject,
  createObject,
  applyObject,
  deleteObject,
  ensureNamespace,
  createConfigMap,
  refusalOf,
  MODULE_NAMESPACE,
} from "./kube";
/** kubectl as a user runs it, and `kubectl auth can-i` until RBAC says yes. */
export { kubectl, kubectlRun, allowed, waitForPermission, waitForCrdEstablished } from "./kube";
/** Changes to a cluster that is not ours: announced before, undone on exit. */
export { ClusterChanges } from "./changes";
/** The PeprStore as the API server returns it. */
export type { PeprStoreObject, ObjectHeader, Refusal } from "./kube";

/** The control plane's audit log, read incrementally, and the queries on it. */
export { AuditTail, auditLog, watcherPatches, watcherCalls } from "./audit";
/** Audit events and the per-call counts. */
export type { AuditEvent, CallCount } from "./audit";

/** The Pepr controller image, built here from the registries (image/build.sh), cached by content. */
export { buildControllerImage } from "./image";

/** `npx pepr deploy` on the node: the image loaded by name, the watcher pod and its logs. */
export {
  loadControllerImage,
  peprDeploy,
  watcherPods,
  waitForWatcherPod,
  followWatcherLogs,
  watcherDeployment,
} from "./pepr-deploy";
/** What a deploy printed and took. */
export type { DeployResult } from "./pepr-deploy";

/** Waiting on a condition with a deadline that names what it waited for. */
export { waitFor, sleep, seconds, TimeoutError } from "./wait";
/** The repository root, and the mounts under a directory. */
export { repoRoot, mountsUnder } from "./paths";
/** What the machine needs (Debian packages), installed as root with apt-get, stated once. */
export {
  REQUIREMENTS,
  ensureRequirements,
  describeMissing,
  nodeBlocker,
  packagesOf,
  installedVersions,
} from "./requirements";
/** Every way a run is asked to end (signals, closed stdout/stderr, parent gone), as one event. */
export { watchStopRequests, interruptedExitCode } from "./stop-requests";
export type { StopRequests } from "./stop-requests";
