// A WATCH on the module's PeprStore, straight on the API server's HTTP stream (one JSON event per
// line), so "visible in the CR" is the moment the event's last byte reached this process: no
// client library, no kubectl decode/re-encode in between. Authenticates with the control plane's
// admin kubeconfig (client certificate).
import { readFileSync } from "node:fs";
import https from "node:https";
import { parse as parseYAML } from "yaml";

import { sleep, TimeoutError } from "../cluster";
import { PEPR_STORE_GVK, STORE_NAMESPACE } from "../store/contract";

/** How long {@link StoreWatch.start} retries while the API server answers 429. */
const START_TIMEOUT_MS = 60_000;

/** What the benchmark keeps of one watch event (the object itself is dropped: up to 1.5 MB). */
export interface StoreEvent {
  /** Date.now() when the event's line was complete. */
  receivedAt: number;
  type: string;
  resourceVersion: number;
  /** Size of the object as the API server sent it (compact JSON, managedFields included). */
  objectBytes: number;
  /** Number of keys in `data`. */
  keys: number;
  /** `data` holds every key of `expected` with its value. */
  all: boolean;
  /** `data` holds none of the keys of `expected`. */
  none: boolean;
}

interface Kubeconfig {
  clusters: { cluster: { server: string; "certificate-authority-data": string } }[];
  users: { user: { "client-certificate-data": string; "client-key-data": string } }[];
}

/** Reads server, CA and client certificate from a kubeconfig with embedded certificate data. */
export function loadKubeconfig(file: string): {
  server: string;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
} {
  const kc = parseYAML(readFileSync(file, "utf8")) as Kubeconfig;
  const cluster = kc.clusters?.[0]?.cluster;
  const user = kc.users?.[0]?.user;
  if (!cluster?.server || !user?.["client-certificate-data"] || !user["client-key-data"]) {
    throw new Error(`${file}: expected a kubeconfig with embedded client certificate data`);
  }
  const b64 = (s: string): Buffer => Buffer.from(s, "base64");
  return {
    server: cluster.server,
    ca: b64(cluster["certificate-authority-data"]),
    cert: b64(user["client-certificate-data"]),
    key: b64(user["client-key-data"]),
  };
}

/** Watches one PeprStore and records every event; reconnects from the last resourceVersion. */
export class StoreWatch {
  readonly events: StoreEvent[] = [];
  #listeners = new Set<(e: StoreEvent) => void>();
  #req?: ReturnType<typeof https.request>;
  #stopped = false;
  #lastRV = 0;
  #conn: ReturnType<typeof loadKubeconfig>;

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
    this.#conn = loadKubeconfig(kubeconfig);
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
      const result = await this.#open();
      if (result.status === 200) return;
      if (result.status !== 429 || Date.now() > deadline) {
        throw new Error(`watch peprstores/${this.name}: HTTP ${result.status}`);
      }
      await sleep(result.retryAfterMs);
    }
  }

  #open(): Promise<{ status: number; retryAfterMs: number }> {
    return new Promise((resolve, reject) => {
      const url = new URL(
        `/apis/${PEPR_STORE_GVK.group}/${PEPR_STORE_GVK.version}/namespaces/${STORE_NAMESPACE}/${PEPR_STORE_GVK.plural}`,
        this.#conn.server,
      );
      url.searchParams.set("watch", "true");
      url.searchParams.set("fieldSelector", `metadata.name=${this.name}`);
      if (this.#lastRV > 0) url.searchParams.set("resourceVersion", String(this.#lastRV));
      const req = https.request(url, {
        ca: this.#conn.ca,
        cert: this.#conn.cert,
        key: this.#conn.key,
        headers: { "User-Agent": "hpsr-bench-watch" },
      });
      this.#req = req;
      req.on("response", res => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          const retryAfter = Number(res.headers["retry-after"] ?? 1);
          res.resume();
          resolve({ status, retryAfterMs: (Number.isFinite(retryAfter) ? retryAfter : 1) * 1000 });
          return;
        }
        resolve({ status, retryAfterMs: 0 });
        let pending: Buffer[] = [];
        res.on("data", (chunk: Buffer) => {
          let start = 0;
          for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
            pending.push(chunk.subarray(start, nl));
            this.#onLine(Buffer.concat(pending), Date.now());
            pending = [];
            start = nl + 1;
          }
          if (start < chunk.length) pending.push(chunk.subarray(start));
        });
        res.on("end", () => {
          // The API server closes watches after its request timeout: carry on from the last event.
          if (!this.#stopped) this.start().catch(err => process.stderr.write(`${err}\n`));
        });
      });
      req.on("error", err => {
        if (!this.#stopped) reject(err);
      });
      req.end();
    });
  }

  #onLine(line: Buffer, receivedAt: number): void {
    if (line.length === 0) return;
    const event = JSON.parse(line.toString("utf8")) as {
      type: string;
      object: { metadata?: { resourceVersion?: string }; data?: Record<string, string> };
    };
    if (event.type === "ERROR") {
      process.stderr.write(`bench watch: ERROR event ${line.toString("utf8").slice(0, 300)}\n`);
      return;
    }
    const data = event.object.data ?? {};
    const entries = Object.entries(this.expected);
    const rv = Number(event.object.metadata?.resourceVersion ?? 0);
    this.#lastRV = Math.max(this.#lastRV, rv);
    const recorded: StoreEvent = {
      receivedAt,
      type: event.type,
      resourceVersion: rv,
      objectBytes: Buffer.byteLength(JSON.stringify(event.object)),
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
    this.#req?.destroy();
  }
}
