// The local-cluster package: a real Kubernetes control plane on 127.0.0.1 (./controlplane/, Go),
// the module's watcher as a local process, and the ways to talk to both. `npm start`
// (scripts/start.ts), the benchmark (bench/) and the e2e tests (test/e2e/) are its callers; it
// imports none of them. See README.md in this folder.

/** Build and start the control plane (or use an existing cluster), and stop it. */
export { buildControlPlane, startControlPlane, ControlPlaneError } from "./controlplane";
/** Whether USE_EXISTING_CLUSTER=true is set, and finding an executable on PATH. */
export { useExisting } from "./controlplane";
/** The control plane handle, its start options and its ready line. */
export type { ControlPlane, StartOptions, ReadyLine } from "./controlplane";
/** Environment overrides and defaults of the control plane. */
export {
  ENV_USE_EXISTING_CLUSTER,
  ENV_START_TIMEOUT,
  DEFAULT_START_TIMEOUT_MS,
  STOP_TIMEOUT_MS,
} from "./controlplane";

/** The node (`startControlPlane({ node: true })`): containerd's build, its ready line, images. */
export {
  buildContainerd,
  requireNode,
  loadImageArchive,
  writeImageArchive,
  NodeError,
} from "./node";
export type { NodeInfo } from "./node";
/** Stop deadline of a control plane with a node. */
export { NODE_STOP_TIMEOUT_MS, NODE_START_TIMEOUT_MS } from "./controlplane";

/** The module's watcher on a cluster, deployed (`npx pepr deploy`) or as a local process. */
export { deployWatcher } from "./watcher";
export type { Watcher, WatcherMode, WatcherOptions } from "./watcher";
/** Build the module (`npx pepr build`), prepare a cluster for it and run its watcher. */
export {
  buildModule,
  prepareCluster,
  startModule,
  makeTLSPair,
  assertWatcherPortFree,
  watchProcess,
} from "./local-watcher";
/** The running watcher, its options and its parsed log records. */
export type { ModuleProcess, ModuleOptions, LogRecord } from "./local-watcher";
/** The watcher's log messages, its start deadline, and Pepr's own PeprStore CRD. */
export {
  STARTUP_COMPLETE,
  SERVING,
  STORE_CREATE_FAILED,
  DEFAULT_MODULE_START_TIMEOUT_MS,
  PEPR_STORE_CRD,
} from "./local-watcher";
/** The fixed ports a run needs, checked before anything is built. */
export {
  assertPortsFree,
  portFree,
  PortInUseError,
  RUN_PORTS,
  WATCHER,
  WATCHER_PORT,
  ENV_WATCHER_PORT_WAIT,
} from "./ports.cjs";
/** A fixed port and what needs it. */
export type { NeededPort } from "./ports.cjs";

/** Objects through @kubernetes/client-node: read, create, apply, delete, wait for the store. */
export {
  objectApi,
  isStatus,
  getStore,
  peprStoreObject,
  waitForStore,
  createObject,
  applyObject,
  deleteObject,
  ensureNamespace,
  createConfigMap,
  MODULE_NAMESPACE,
  FIELD_MANAGER,
} from "./kube";
/** kubectl as a user runs it, and `kubectl auth can-i` until RBAC says yes. */
export { kubectl, kubectlRun, waitForPermission } from "./kube";
/** Changes to a cluster that is not ours: announced before, undone on exit. */
export { ClusterChanges } from "./changes";
/** `Kind namespace/name` of an object, for messages. */
export { describeObject } from "./kube";
/** A kubectl run's result, and the PeprStore as the API server returns it. */
export type { KubectlResult, PeprStoreObject } from "./kube";

/** The control plane's audit log, read incrementally, and the queries on it. */
export {
  AuditTail,
  auditLog,
  storePatches,
  watcherPatches,
  watcherCalls,
  parseMicroTime,
  WATCHER_USER_AGENT,
  WATCHER_BODIES,
} from "./audit";
/** Audit events, the per-call counts, and which bodies a tail keeps. */
export type { AuditEvent, Audited, CallCount, KeepBody } from "./audit";

/** The Pepr controller image, built here from the registries (image/build.sh), cached by content. */
export { buildControllerImage, ImageBuildError } from "./image";
/** A built controller image and the build's options. */
export type { ControllerImage, BuildControllerImageOptions } from "./image";

/** `npx pepr deploy` on the node: the image loaded by name, the watcher pod and its logs. */
export {
  loadControllerImage,
  peprDeploy,
  watcherPods,
  waitForWatcherPod,
  followWatcherLogs,
  watcherDeployment,
  watcherServiceAccount,
  DeployError,
  DEPLOY_NAMESPACE,
  DEFAULT_DEPLOY_TIMEOUT_MS,
  DEFAULT_POD_READY_TIMEOUT_MS,
} from "./pepr-deploy";
/** An image loaded into the node, and what a deploy printed and took. */
export type { LoadedImage, DeployResult } from "./pepr-deploy";

/** Waiting on a condition with a deadline that names what it waited for. */
export { waitFor, sleep, seconds, TimeoutError, DEFAULT_WAIT_MS, DEFAULT_POLL_MS } from "./wait";
/** The repository root and the files `npx pepr build` writes. */
export { repoRoot, buildOutputs, findOnPath, mountsUnder } from "./paths";
/** What the machine needs (Debian packages), installed as root with apt-get, stated once. */
export {
  REQUIREMENTS,
  ensureRequirements,
  missingRequirements,
  describeMissing,
  nodeBlocker,
  packagesOf,
  installedVersions,
} from "./requirements";
export type { Need, Requirement } from "./requirements";
/** Every way a run is asked to end (signals, closed stdout/stderr, parent gone), as one event. */
export { watchStopRequests, parentPid, interruptedExitCode, EXIT_AT_ONCE } from "./stop-requests";
export type { StopRequests } from "./stop-requests";
