// Reading and watching a module's PeprStore through kubernetes-fluent-client, decoded per
// capability (./decode.ts), with API failures translated into the errors of ./errors.ts.
import { K8s, WatchEvent } from "kubernetes-fluent-client";

import {
  CapabilityData,
  DecodedData,
  StoreChange,
  decodeStoreData,
  diffDecoded,
  lastFlushTime,
} from "./decode";
import {
  PEPR_STORE_GVK,
  PEPR_STORE_RESOURCE,
  STORE_NAMESPACE,
  moduleUUID,
  storeName,
} from "./contract";
import {
  ApiError,
  ClusterUnreachableError,
  CrdNotInstalledError,
  PermissionDeniedError,
  StoreError,
  StoreNotFoundError,
  UnauthorizedError,
  UnknownCapabilityError,
} from "./errors";
import { ClusterTarget, KubeconfigOptions, useKubeconfig } from "./kubeconfig";
import { MODULE_CAPABILITIES } from "./capabilities";
import { PeprStore } from "./peprstore";

/** What to read. Every field is optional. */
export interface StoreOptions extends KubeconfigOptions {
  /** The module's uuid (default: `pepr.uuid` of this package, see {@link moduleUUID}). */
  uuid?: string;
  /** Namespace of the store (default {@link STORE_NAMESPACE}, where Pepr always puts it). */
  namespace?: string;
  /** Only this capability. */
  capability?: string;
  /**
   * The module's capability names, which make the key decoding exact (default
   * {@link MODULE_CAPABILITIES} for this package's own uuid, none for another uuid: then the
   * names are inferred from the keys, see ./decode.ts).
   */
  capabilities?: readonly string[];
  /**
   * Stop waiting for the API server after this long (ClusterUnreachableError). The request itself
   * is not aborted: kubernetes-fluent-client takes no AbortSignal; it ends at its own timeout.
   */
  timeoutMs?: number;
}

/** A PeprStore as the capabilities see it. */
export interface StoreSnapshot extends DecodedData {
  /** The CR's name, `pepr-<uuid>-store`. */
  name: string;
  /** The CR's namespace. */
  namespace: string;
  /** The CR's resourceVersion. */
  resourceVersion: string;
  /** When Pepr last patched the store (label `pepr.dev-cacheID`); `null` without the label. */
  lastFlush: Date | null;
}

/** A key change, when it was received, and the store's resourceVersion after it. */
export interface StoreChangeEvent extends StoreChange {
  /** When the change was received. */
  time: Date;
  /** The CR's resourceVersion that carries the change. */
  resourceVersion: string;
}

/** Options of {@link watchStore}. */
export interface WatchOptions extends StoreOptions {
  /** Errors the watch survives (it retries: network errors, API server restarts). */
  onWarning?: (err: Error) => void;
}

/** A running watch. */
export interface StoreWatch {
  /** The store when the watch started; its keys were also reported as `added`. */
  initial: StoreSnapshot;
  /** Stops watching and restores $KUBECONFIG; idempotent. */
  stop(): void;
  /** Resolves after stop(); rejects with a StoreError when the watch cannot go on. */
  done: Promise<void>;
}

/** The options with their defaults filled in. */
export interface Resolved {
  name: string;
  namespace: string;
  capability?: string;
  known: readonly string[];
}

/**
 * Fills in the defaults of the options.
 *
 * @param options - what the caller gave
 * @returns the store's name and namespace, the capability filter and the known capability names
 */
export function resolveOptions(options: StoreOptions): Resolved {
  // package.json is read only when needed: the watcher's pod has only the bundled module
  const uuid = options.uuid ?? moduleUUID();
  return {
    name: storeName(uuid),
    namespace: options.namespace ?? STORE_NAMESPACE,
    capability: options.capability,
    known: options.capabilities ?? (uuid === moduleUUID() ? MODULE_CAPABILITIES : []),
  };
}

/**
 * Reads a module's PeprStore and decodes it per capability.
 *
 * @param options - cluster, module uuid and capability filter; see {@link StoreOptions}
 * @returns the decoded store with its name, resourceVersion and last flush time
 * @throws KubeconfigError, ClusterUnreachableError, UnauthorizedError, PermissionDeniedError,
 *   CrdNotInstalledError, StoreNotFoundError, UnknownCapabilityError or ApiError (all
 *   StoreError, told apart by `code`)
 */
export async function readStore(options: StoreOptions = {}): Promise<StoreSnapshot> {
  const want = resolveOptions(options);
  const kubeconfig = useKubeconfig(options);
  try {
    const request = `get ${PEPR_STORE_RESOURCE} "${want.name}" in namespace ${want.namespace}`;
    const store = getStore(want, kubeconfig.target);
    return toSnapshot(
      await withDeadline(store, options.timeoutMs, request, kubeconfig.target),
      want,
    );
  } finally {
    kubeconfig.restore();
  }
}

/**
 * `request` as it is, or rejected with ClusterUnreachableError after `timeoutMs`.
 *
 * @param what - the request, for the message
 */
export async function withDeadline<T>(
  request: Promise<T>,
  timeoutMs: number | undefined,
  what: string,
  target: ClusterTarget,
): Promise<T> {
  if (timeoutMs === undefined) return request;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const message = `${what}: no answer from ${target.server} within ${timeoutMs} ms`;
      reject(new ClusterUnreachableError(message, target.server));
    }, timeoutMs);
  });
  request.catch(() => undefined); // its late failure, after the deadline, is moot
  try {
    return await Promise.race([request, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reports every key change of a module's PeprStore: first the keys already there (as `added`),
 * then each added, changed or removed key as the API server reports it. The changes of one
 * update arrive in order of capability and key. Needs get, list and watch on PeprStores.
 *
 * @param options - as for {@link readStore}, plus `onWarning` for errors the watch survives
 * @param onChange - called once per changed key
 * @returns the running watch, once it is connected
 * @throws the errors of {@link readStore}, and PermissionDeniedError when list or watch is denied
 */
export async function watchStore(
  options: WatchOptions,
  onChange: (change: StoreChangeEvent) => void,
): Promise<StoreWatch> {
  const want = resolveOptions(options);
  const kubeconfig = useKubeconfig(options);
  const { target } = kubeconfig;
  let initial: StoreSnapshot;
  try {
    initial = toSnapshot(await getStore(want, target), want);
    await checkList(want, target);
  } catch (err) {
    kubeconfig.restore();
    throw err;
  }

  const report = changeReporter(want, onChange);
  report(initial, initial.resourceVersion);

  let settle: { resolve: () => void; reject: (err: Error) => void } | undefined;
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  done.catch(() => undefined); // callers may not await `done`; a fatal error must not crash them

  let stopped = false;
  let failure: Error | undefined;
  const watcher = K8s(PeprStore, { name: want.name, namespace: want.namespace }).Watch(
    (store, phase) => {
      if (stopped) return;
      const resourceVersion = store.metadata?.resourceVersion ?? "";
      const data = phase === "DELETED" ? {} : store.data;
      report(narrowedTo(decodeStoreData(data, want.known), want.capability), resourceVersion);
    },
  );
  const stop = (err?: Error): void => {
    if (stopped) return;
    stopped = true;
    failure = err;
    watcher.close();
    kubeconfig.restore();
    if (err) settle?.reject(err);
    else settle?.resolve();
  };
  reportWatchErrors(watcher.events, want, target, options.onWarning, stop);

  try {
    await watcher.start();
  } catch (err) {
    stop();
    throw translate(err, "watch", want, target);
  }
  // A list or watch that was denied is reported by an event before start() returns.
  if (failure) throw failure;
  return { initial, stop: () => stop(), done };
}

/** Reports each difference between the last data seen and `next` as a change event. */
function changeReporter(
  want: Resolved,
  onChange: (change: StoreChangeEvent) => void,
): (next: DecodedData, resourceVersion: string) => void {
  let current: DecodedData = narrowedTo(decodeStoreData({}, want.known), want.capability);
  return (next, resourceVersion) => {
    const changes = diffDecoded(current, next);
    current = next;
    const time = new Date();
    for (const change of changes) onChange({ ...change, time, resourceVersion });
  };
}

/**
 * Turns the watch's error events into warnings (it retries) or, for 401, 403 and 404, a stop
 * with the error.
 */
function reportWatchErrors(
  events: { on(event: string, listener: (err: unknown) => void): unknown },
  want: Resolved,
  target: ClusterTarget,
  onWarning: ((err: Error) => void) | undefined,
  stop: (err: Error) => void,
): void {
  const failed = (verb: string) => (err: unknown) => {
    // fluent-client reports a failed response as an Error "<verb> failed: <status> <text> [headers]"
    const text = err instanceof Error ? err.message : String(err);
    const response = /failed: (\d{3}) ([^[]*)/.exec(text);
    const status = response ? Number(response[1]) : undefined;
    const fatal = status === undefined ? undefined : watchFailure(status, verb, want, target, err);
    if (fatal) {
      stop(fatal);
      return;
    }
    const why = response ? `HTTP ${response[1]} ${response[2].trim()}` : describeCause(err);
    onWarning?.(
      new ApiError(
        `${verb} of PeprStore ${want.name} at ${target.server} failed (${why}), retrying`,
        status,
        { cause: err },
      ),
    );
  };
  events.on(WatchEvent.LIST_ERROR, failed("list"));
  events.on(WatchEvent.WATCH_ERROR, failed("watch"));
  events.on(WatchEvent.NETWORK_ERROR, (err: unknown) =>
    onWarning?.(
      new ClusterUnreachableError(
        `watch of PeprStore ${want.name}: connection to ${target.server} lost (${describeCause(err)}), retrying`,
        target.server,
        { cause: err },
      ),
    ),
  );
  events.on(WatchEvent.DATA_ERROR, (err: unknown) =>
    onWarning?.(asError(err, `watch of PeprStore ${want.name}: bad event`)),
  );
}

/** The fatal watch failures (401, 403, 404) as errors; `undefined` for the ones to retry. */
function watchFailure(
  status: number,
  verb: string,
  want: Resolved,
  target: ClusterTarget,
  cause: unknown,
): StoreError | undefined {
  if (status === 401 || status === 403) {
    return translate({ ok: false, status, statusText: "", data: undefined }, verb, want, target);
  }
  if (status === 404) {
    return new CrdNotInstalledError(crdMissing(want, target), { cause });
  }
  return undefined;
}

/** GETs the store CR; a 404 becomes CrdNotInstalledError or StoreNotFoundError. */
async function getStore(want: Resolved, target: ClusterTarget): Promise<PeprStore> {
  try {
    return await K8s(PeprStore).InNamespace(want.namespace).Get(want.name);
  } catch (err) {
    if (httpStatus(err) !== 404) throw translate(err, "get", want, target);
    throw await notFound(want, target, err);
  }
}

/** Tells a missing CR from a missing CRD by listing the namespace's PeprStores. */
async function notFound(want: Resolved, target: ClusterTarget, getErr: unknown): Promise<Error> {
  const where = `PeprStore ${want.name}: not found in namespace ${want.namespace}`;
  try {
    const list = await K8s(PeprStore).InNamespace(want.namespace).Get();
    const names = list.items.map(s => s.metadata?.name ?? "").sort();
    const there = names.length ? names.join(", ") : "none";
    return new StoreNotFoundError(`${where}; PeprStores in ${want.namespace}: ${there}`, names, {
      cause: getErr,
    });
  } catch (err) {
    const status = httpStatus(err);
    if (status === 404) return new CrdNotInstalledError(crdMissing(want, target), { cause: err });
    if (status === 403 && isStatusNotFound(getErr)) {
      return new StoreNotFoundError(
        `${where} (the PeprStores there cannot be listed: list is forbidden)`,
        null,
        { cause: getErr },
      );
    }
    return translate(err, "list", want, target);
  }
}

/** Checks that the PeprStores can be listed, which the watch needs first. */
async function checkList(want: Resolved, target: ClusterTarget): Promise<void> {
  try {
    await K8s(PeprStore).InNamespace(want.namespace).WithField("metadata.name", want.name).Get();
  } catch (err) {
    throw translate(err, "list", want, target);
  }
}

function crdMissing(want: Resolved, target: ClusterTarget): string {
  const { group, version, plural } = PEPR_STORE_GVK;
  return (
    `PeprStore ${want.name}: the CRD ${PEPR_STORE_RESOURCE} is not installed (${target.server} ` +
    `does not serve ${group}/${version} ${plural}; the Pepr watcher and \`npx pepr deploy\` install it)`
  );
}

/** The decoded CR, narrowed to one capability if asked. */
function toSnapshot(store: PeprStore, want: Resolved): StoreSnapshot {
  const decoded = decodeStoreData(store.data, want.known);
  if (want.capability !== undefined && !Object.hasOwn(decoded.capabilities, want.capability)) {
    const names = Object.keys(decoded.capabilities);
    throw new UnknownCapabilityError(
      `capability "${want.capability}" not found in PeprStore ${want.name} (namespace ` +
        `${want.namespace}); capabilities: ${names.join(", ") || "none"}`,
      names,
    );
  }
  return {
    name: store.metadata?.name ?? want.name,
    namespace: store.metadata?.namespace ?? want.namespace,
    resourceVersion: store.metadata?.resourceVersion ?? "",
    lastFlush: lastFlushTime(store.metadata?.labels),
    ...narrowedTo(decoded, want.capability),
  };
}

/** Keeps one capability (and drops the unrecognized keys) when `capability` is set. */
function narrowedTo(decoded: DecodedData, capability: string | undefined): DecodedData {
  if (capability === undefined) return decoded;
  const empty: CapabilityData = { items: {}, unmigrated: {} };
  const part = Object.hasOwn(decoded.capabilities, capability)
    ? decoded.capabilities[capability]
    : empty;
  return { capabilities: Object.fromEntries([[capability, part]]), unrecognized: {} };
}

/** The failure kubernetes-fluent-client throws: its fetch response (fetch.ts FetchResponse). */
interface FailedResponse {
  ok: false;
  status: number;
  statusText: string;
  data: unknown;
  /** Set when the request failed before a response (or its body could not be read). */
  e?: unknown;
}

function isFailedResponse(err: unknown): err is FailedResponse {
  return (
    typeof err === "object" &&
    err !== null &&
    (err as FailedResponse).ok === false &&
    typeof (err as FailedResponse).status === "number"
  );
}

/**
 * The HTTP status of a kubernetes-fluent-client failure, if it had a response.
 *
 * @param err - what a fluent-client call threw
 * @returns the status, or `undefined` for a failure without a response (network) or another error
 */
export function httpStatus(err: unknown): number | undefined {
  return isFailedResponse(err) && err.e === undefined ? err.status : undefined;
}

/** Whether a 404 came with a Kubernetes Status about a PeprStore (so the CRD is there). */
function isStatusNotFound(err: unknown): boolean {
  if (!isFailedResponse(err)) return false;
  const data = err.data as { kind?: unknown; details?: { group?: unknown } } | undefined;
  return data?.kind === "Status" && data.details?.group === PEPR_STORE_GVK.group;
}

/** The API server's own message in a Status body, if any. */
function statusMessage(err: FailedResponse): string | undefined {
  const data = err.data as { message?: unknown } | undefined;
  return typeof data?.message === "string" ? data.message : undefined;
}

/** The innermost message of an error chain ("connect ECONNREFUSED 127.0.0.1:1"). */
function describeCause(err: unknown): string {
  let at: unknown = err;
  for (let depth = 0; depth < 5 && isErrorLike(at) && at.cause !== undefined; depth++) {
    at = at.cause;
  }
  return isErrorLike(at) ? at.message : String(at);
}

/** An Error of any realm: undici's errors are not `instanceof` a Jest test's Error. */
function isErrorLike(err: unknown): err is { message: string; cause?: unknown } {
  return typeof (err as { message?: unknown } | null)?.message === "string";
}

function asError(err: unknown, what: string): Error {
  return err instanceof Error ? err : new Error(`${what}: ${String(err)}`);
}

/**
 * Turns what kubernetes-fluent-client throws into a StoreError naming the request.
 *
 * @param err - a fluent-client failure response, an Error, or anything thrown
 * @param verb - the API verb of the request (get, list, watch)
 * @param want - the store that was asked for
 * @param target - the cluster the request went to
 * @returns the StoreError to throw
 */
export function translate(
  err: unknown,
  verb: string,
  want: Resolved,
  target: ClusterTarget,
): StoreError {
  if (err instanceof StoreError) return err;
  const request =
    verb === "get"
      ? `get ${PEPR_STORE_RESOURCE} "${want.name}" in namespace ${want.namespace}`
      : `${verb} ${PEPR_STORE_RESOURCE} in namespace ${want.namespace}`;
  if (!isFailedResponse(err)) {
    return new ApiError(
      `${request} at ${target.server}: ${err instanceof Error ? err.message : String(err)}`,
      undefined,
      { cause: err },
    );
  }
  if (err.e !== undefined) {
    return new ClusterUnreachableError(
      `cannot reach the API server ${target.server} (context "${target.context}" of ${target.source}): ${describeCause(err.e)}`,
      target.server,
      { cause: err.e },
    );
  }
  const said = statusMessage(err);
  const saidSuffix = said ? `; the API server said: ${said}` : "";
  if (err.status === 401) {
    return new UnauthorizedError(
      `unauthorized: ${target.server} did not accept the credentials of context "${target.context}" (${target.source}) to ${request}${saidSuffix}`,
      { cause: err },
    );
  }
  if (err.status === 403) {
    return new PermissionDeniedError(
      `permission denied: cannot ${request} (context "${target.context}")${saidSuffix}`,
      verb,
      PEPR_STORE_RESOURCE,
      want.namespace,
      { cause: err },
    );
  }
  return new ApiError(
    `${request} at ${target.server}: HTTP ${err.status} ${err.statusText}${saidSuffix}`,
    err.status,
    { cause: err },
  );
}
