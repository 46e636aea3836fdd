// A WATCH on the module's PeprStore through @kubernetes/client-node's Watch (the cluster package's
// client), so "visible in the CR" is the moment the event's line was parsed in this process, with
// no kubectl decode/re-encode in between. Authenticates with the control plane's admin kubeconfig.
import { KubeConfig, Watch } from "@kubernetes/client-node";

import { sleep, TimeoutError } from "../cluster";
import { PEPR_STORE_GVK, STORE_NAMESPACE } from "../store/contract";

/** How long {@link StoreWatch.start} retries while the API server answers 429. */
const START_TIMEOUT_MS = 60_000;

/** What the benchmark keeps of one watch event (the object itself is dropped: up to 1.5 MB). */
export interface StoreEvent {
  /** Date.now() when the event's line was parsed. */
  receivedAt: number;
  type: string;
  resourceVersion: number;
  /** Size of the object as compact JSON (managedFields included), as the API server sends it. */
  objectBytes: number;
  /** Number of keys in `data`. */
  keys: number;
  /** `data` holds every key of `expected` with its value. */
  all: boolean;
  /** `data` holds none of the keys of `expected`. */
  none: boolean;
}

/** The part of a watched PeprStore the benchmark reads. */
interface WatchedStore {
  metadata?: { resourceVersion?: string };
  data?: Record<string, string>;
}

/** Watches one PeprStore and records every event; reconnects from the last resourceVersion. */
export class StoreWatch {
  readonly events: StoreEvent[] = [];
  #listeners = new Set<(e: StoreEvent) => void>();
  #controller?: AbortController;
  #stopped = false;
  #lastRV = 0;
  #config = new KubeConfig();

  /**
   * @param kubeconfig - admin kubeconfig of the control plane
   * @param name - the PeprStore to watch (in {@link STORE_NAMESPACE})
   * @param expected - the keys and values whose presence `all`/`none` report
   */
  constructor(
    kubeconfig: string,
    readonly name: string,
    readonly expected: Record<string, string>,
  ) {
    this.#config.loadFromFile(kubeconfig);
  }

  /**
   * Opens the watch; resolves once the API server answered with 200. Retries on 429, which the
   * API server answers while the watch cache of a just-created CRD is still initialising.
   *
   * @throws Error on another status, or when 429 lasts longer than {@link START_TIMEOUT_MS}
   */
  async start(): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const status = await this.#open();
      if (status === 200) return;
      if (status !== 429 || Date.now() > deadline) {
        throw new Error(`watch peprstores/${this.name}: HTTP ${status}`);
      }
      await sleep(1000);
    }
  }

  /** One WATCH request; resolves with its status (200 once the stream is open). */
  async #open(): Promise<number> {
    const { group, version, plural } = PEPR_STORE_GVK;
    const path = `/apis/${group}/${version}/namespaces/${STORE_NAMESPACE}/${plural}`;
    const params = {
      fieldSelector: `metadata.name=${this.name}`,
      resourceVersion: this.#lastRV > 0 ? String(this.#lastRV) : undefined,
    };
    let refused: number | undefined;
    let open = false;
    this.#controller = await new Watch(this.#config).watch(
      path,
      params,
      (type: string, object: WatchedStore) => this.#onEvent(type, object, Date.now()),
      (err: unknown) => {
        if (!open) refused = (err as { statusCode?: number } | null)?.statusCode ?? 0;
        // The API server closes watches after its request timeout: carry on from the last event.
        else if (!this.#stopped) this.start().catch(e => process.stderr.write(`${e}\n`));
      },
    );
    open = refused === undefined;
    return refused ?? 200;
  }

  #onEvent(type: string, object: WatchedStore, receivedAt: number): void {
    if (type === "ERROR") {
      process.stderr.write(`bench watch: ERROR event ${JSON.stringify(object).slice(0, 300)}\n`);
      return;
    }
    const data = object.data ?? {};
    const entries = Object.entries(this.expected);
    const rv = Number(object.metadata?.resourceVersion ?? 0);
    this.#lastRV = Math.max(this.#lastRV, rv);
    const recorded: StoreEvent = {
      receivedAt,
      type,
      resourceVersion: rv,
      objectBytes: Buffer.byteLength(JSON.stringify(object)),
      keys: Object.keys(data).length,
      all: entries.every(([k, v]) => data[k] === v),
      none: entries.every(([k]) => !(k in data)),
    };
    this.events.push(recorded);
    for (const listener of this.#listeners) listener(recorded);
  }

  /**
   * Resolves with the first event (already seen from index `from`, or future) that `match` accepts.
   *
   * @throws TimeoutError naming `what` after `timeoutMs`
   */
  waitFor(
    what: string,
    match: (e: StoreEvent) => boolean,
    timeoutMs: number,
    from = 0,
  ): Promise<StoreEvent> {
    const seen = this.events.slice(from).find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const listener = (e: StoreEvent): void => {
        if (!match(e)) return;
        this.#listeners.delete(listener);
        clearTimeout(timer);
        resolve(e);
      };
      const timer = setTimeout(() => {
        this.#listeners.delete(listener);
        reject(new TimeoutError(`timeout waiting for ${what} after ${timeoutMs}ms`));
      }, timeoutMs);
      this.#listeners.add(listener);
    });
  }

  /** Closes the watch; idempotent. */
  stop(): void {
    this.#stopped = true;
    this.#controller?.abort();
  }
}
