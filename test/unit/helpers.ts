import type { Capability } from "pepr";
import type { WatchPhase } from "kubernetes-fluent-client/dist/fluent/shared-types";

import { LogRecord, recordLogs } from "../record-logs";

/** The capability under test, loaded in a module registry of its own. */
export interface LoadedCapability {
  /** The HelloPeprStoreResources export, as `pepr build` and the watcher see it. */
  capability: Capability;
  /** Every record pepr's `Log` wrote since the capability module started loading, in order. */
  logs: LogRecord[];
  /** kubernetes-fluent-client's WatchPhase enum from the same registry as the capability. */
  WatchPhase: typeof WatchPhase;
  /**
   * Stand in for the reads and the create of confirm-writes' storeCR (which call the API server),
   * called with the CR's name (and the capability), so unit tests make no API calls and decide
   * what the "cluster" holds. readPersisted resolves `{}` until a test sets an implementation.
   */
  readPersisted: jest.Mock<Promise<Record<string, string> | null>, [string, string]>;
  createStore: jest.Mock<Promise<void>, [string]>;
}

/**
 * Loads capabilities/hello-pepr-store-resources.ts in a fresh Jest module registry, so each test
 * gets its own Capability (and its own Pepr Storage, which can only be registered once) and no
 * state leaks between tests. Pepr's `Log` is a pino logger; its destination stream is replaced
 * by a recorder so the exact records can be asserted and nothing is printed. Jest restores the
 * spy after each test (`restoreMocks` in jest.config.cjs).
 *
 * @returns the capability, the captured log records and the WatchPhase enum
 * @throws Error if pepr's logger has no pino stream to capture
 */
export async function loadCapability(): Promise<LoadedCapability> {
  let loaded: LoadedCapability | undefined;

  await jest.isolateModulesAsync(async () => {
    const { Log } = await import("pepr");
    const { symbols } = await import("pino");
    const logs = recordLogs(Log, symbols.streamSym);

    const readPersisted = jest.fn<Promise<Record<string, string> | null>, [string, string]>(
      async () => ({}),
    );
    const createStore = jest.fn<Promise<void>, [string]>(async () => undefined);
    jest.doMock("../../capabilities/confirm-writes", () => {
      const { storeName } = jest.requireActual("../../store/contract");
      return {
        ...jest.requireActual("../../capabilities/confirm-writes"),
        storeCR: (uuid: string, capability: string) => ({
          readPersisted: () => readPersisted(storeName(uuid), capability),
          createStore: () => createStore(storeName(uuid)),
        }),
      };
    });

    const { WatchPhase } = await import("kubernetes-fluent-client/dist/fluent/shared-types");
    const { HelloPeprStoreResources } = await import(
      "../../capabilities/hello-pepr-store-resources"
    );
    loaded = {
      capability: HelloPeprStoreResources,
      logs,
      WatchPhase,
      readPersisted,
      createStore,
    };
  });

  if (loaded === undefined) {
    throw new Error("loadCapability: the isolated module registry produced no capability");
  }
  return loaded;
}

/** The settled state of a promise, readable synchronously. */
export interface Tracked<T> {
  state: "pending" | "resolved" | "rejected";
  value?: T;
  reason?: unknown;
}

/**
 * Attaches handlers to a promise at once (so a later rejection is never "unhandled") and
 * exposes whether it has settled yet.
 *
 * @param promise - the promise to observe
 * @returns an object whose `state` follows the promise
 */
export function track<T>(promise: Promise<T>): Tracked<T> {
  const tracked: Tracked<T> = { state: "pending" };
  promise.then(
    value => {
      tracked.state = "resolved";
      tracked.value = value;
    },
    (reason: unknown) => {
      tracked.state = "rejected";
      tracked.reason = reason;
    },
  );
  return tracked;
}

/**
 * Lets every queued promise job and I/O callback run once: a turn of the event loop, not a
 * timed wait.
 *
 * @returns a promise that resolves on the next `setImmediate` turn
 */
export function nextTurn(): Promise<void> {
  return new Promise(resolve => setImmediate(resolve));
}

/** A ConfigMap as the watch would deliver it for `kubectl create cm observe -n ...`. */
export const observeConfigMap = {
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: "observe", namespace: "hello-pepr-store-resources", uid: "uid-1" },
};
