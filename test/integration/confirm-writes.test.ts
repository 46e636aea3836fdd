// capabilities/confirm-writes.ts's requests, as the capability makes them through the store
// library, on the real API server; a tiny local server only for a 500, a broken body and an answer
// that never comes.
import { Log } from "pepr";
import { symbols } from "pino";

import { confirmWrites, storeCR } from "../../capabilities/confirm-writes";
import { getStore } from "../../cluster/kube";
import { storeName } from "../../store/contract";
import {
  ApiError,
  ClusterUnreachableError,
  PermissionDeniedError,
  StoreError,
} from "../../store/errors";
import {
  applyStore,
  closedPort,
  forbiddenKubeconfig,
  integrationCluster,
  recordLogs,
  tinyServer,
  uniqueName,
  useKubeconfigEnv,
} from "./cluster";
import { kubeconfigFor } from "../shared-cluster/kubeconfig";

const CAPABILITY = "hello-pepr-store-resources";
const PLACEHOLDER = { __pepr_do_not_delete__: "k-thx-bye" };

let restoreEnv: () => void;
beforeEach(() => {
  restoreEnv = useKubeconfigEnv(integrationCluster().kubeconfig);
});
afterEach(() => restoreEnv());

/**
 * Runs `fn` with $KUBECONFIG pointing at a plain-HTTP `server` (a token that no one checks;
 * client-node refuses http:// without insecure-skip-tls-verify).
 */
async function against<T>(server: string, fn: () => Promise<T>): Promise<T> {
  const kc = kubeconfigFor(server, "t", { "insecure-skip-tls-verify": true });
  const restore = useKubeconfigEnv(kc.file);
  try {
    return await fn();
  } finally {
    restore();
    kc.remove();
  }
}

/** What `promise` rejected with (fails the test if it resolved). */
async function rejection(promise: Promise<unknown>): Promise<StoreError & { status?: number }> {
  const settled = await promise.then(
    value => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!("error" in settled)) throw new Error(`resolved with ${JSON.stringify(settled.value)}`);
  if (!(settled.error instanceof StoreError)) throw settled.error;
  return settled.error;
}

/** A module uuid of its own per test, and the name of its store CR. */
function uniqueStore(prefix: string): { uuid: string; name: string } {
  const uuid = uniqueName(prefix);
  return { uuid, name: storeName(uuid) };
}

describe("storeCR(uuid, capability).readPersisted: the capability's read, through the store library", () => {
  it("returns this capability's keys with their values, v2 prefix removed, and nothing else", async () => {
    const { uuid, name } = uniqueStore("read");
    await applyStore(name, {
      ...PLACEHOLDER,
      [`${CAPABILITY}-v2-a`]: "1",
      [`${CAPABILITY}-v2-https://observed`]: "yay",
      [`${CAPABILITY}-v2-`]: "empty key",
      [`${CAPABILITY}-legacy`]: "not v2",
      [`other-${CAPABILITY}-v2-a`]: "another capability",
      [`x${CAPABILITY}-v2-b`]: "another capability",
    });
    expect(await storeCR(uuid, CAPABILITY).readPersisted()).toEqual({
      a: "1",
      "https://observed": "yay",
      "": "empty key",
    });
  });

  it("returns {} for a store without data", async () => {
    const { uuid, name } = uniqueStore("read-empty");
    await applyStore(name, undefined);
    expect(await storeCR(uuid, CAPABILITY).readPersisted()).toEqual({});
  });

  it("returns null when the store CR does not exist (404)", async () => {
    expect(await storeCR(uniqueName("absent"), CAPABILITY).readPersisted()).toBeNull();
  });

  it("throws the API server's 403 with its message", async () => {
    const { uuid, name } = uniqueStore("read-403");
    await applyStore(name, { [`${CAPABILITY}-v2-a`]: "1" });
    const kc = await forbiddenKubeconfig();
    const restore = useKubeconfigEnv(kc.file);
    try {
      const err = await rejection(storeCR(uuid, CAPABILITY).readPersisted());
      expect(err).toBeInstanceOf(PermissionDeniedError);
      expect(err.message).toMatch(
        new RegExp(
          `^permission denied: cannot get peprstores.pepr.dev "${name}" in namespace pepr-system .*` +
            `User "system:serviceaccount:default:${kc.user}" cannot get resource "peprstores"`,
        ),
      );
    } finally {
      restore();
      kc.remove();
    }
  });

  it("throws a 500 with its status (tiny server: the API server cannot be made to 500)", async () => {
    const server = await tinyServer((_req, res) => {
      res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ kind: "Status", message: "etcdserver: request timed out" }));
    });
    try {
      const err = await rejection(
        against(server.url, () => storeCR("u", CAPABILITY).readPersisted()),
      );
      expect(err).toBeInstanceOf(ApiError);
      expect(err.status).toBe(500);
      expect(err.message).toBe(
        `get peprstores.pepr.dev "pepr-u-store" in namespace pepr-system at ${server.url}: ` +
          "HTTP 500 Internal Server Error; the API server said: etcdserver: request timed out",
      );
      expect(server.requests).toEqual([
        "GET /apis/pepr.dev/v1/namespaces/pepr-system/peprstores/pepr-u-store",
      ]);
    } finally {
      await server.close();
    }
  });

  it("says only the status when the answer has no Kubernetes Status (503 in plain text)", async () => {
    const server = await tinyServer((_req, res) => {
      res.writeHead(503, { "content-type": "text/plain" });
      res.end("upstream connect error");
    });
    try {
      const read = () => storeCR("u", CAPABILITY).readPersisted();
      const err = await rejection(against(server.url, read));
      expect(err.status).toBe(503);
      expect(err.message).toBe(
        `get peprstores.pepr.dev "pepr-u-store" in namespace pepr-system at ${server.url}: HTTP 503 Service Unavailable`,
      );
    } finally {
      await server.close();
    }
  });

  it("does not take a 404 whose body cannot be read for a missing CR", async () => {
    const server = await tinyServer((_req, res) => {
      res.writeHead(404, { "content-type": "application/json" });
      res.end("{not json");
    });
    try {
      const err = await rejection(
        against(server.url, () => storeCR("u", CAPABILITY).readPersisted()),
      );
      expect(err.message).toMatch(/JSON/);
    } finally {
      await server.close();
    }
  });

  it("gives up on an API server that does not answer, after its timeout", async () => {
    const server = await tinyServer(() => undefined); // never answers
    try {
      const read = () => storeCR("u", CAPABILITY, 200).readPersisted();
      const err = await rejection(against(server.url, read));
      expect(err).toBeInstanceOf(ClusterUnreachableError);
      expect(err.message).toBe(
        `get peprstores.pepr.dev "pepr-u-store" in namespace pepr-system: no answer from ${server.url} within 200 ms`,
      );
    } finally {
      await server.close();
    }
  });

  it("names the network error when nothing listens", async () => {
    const port = await closedPort();
    const err = await rejection(
      against(`http://127.0.0.1:${port}`, () => storeCR("u", CAPABILITY).readPersisted()),
    );
    expect(err).toBeInstanceOf(ClusterUnreachableError);
    expect(err.message).toMatch(
      new RegExp(
        `^cannot reach the API server http://127.0.0.1:${port} .*: connect ECONNREFUSED 127.0.0.1:${port}$`,
      ),
    );
  });
});

describe("storeCR(uuid, capability).createStore", () => {
  it("creates the CR with Pepr's placeholder and a pepr.dev-cacheID label, and logs it", async () => {
    const logs = recordLogs(Log, symbols.streamSym);
    const { uuid, name } = uniqueStore("create");
    const before = Date.now();
    await storeCR(uuid, CAPABILITY).createStore();
    const cr = await getStore(integrationCluster(), name);
    expect(cr?.data).toEqual(PLACEHOLDER);
    expect(Object.keys(cr?.metadata.labels ?? {})).toEqual(["pepr.dev-cacheID"]);
    const cacheID = Number(cr?.metadata.labels?.["pepr.dev-cacheID"]);
    expect(cacheID).toBeGreaterThanOrEqual(before);
    expect(cacheID).toBeLessThanOrEqual(Date.now());
    expect(logs).toEqual([
      { level: 40, name, namespace: "pepr-system", msg: "store CR missing: creating it again" },
    ]);
  });

  it("leaves a CR that exists (409) as it is", async () => {
    const { uuid, name } = uniqueStore("create-exists");
    await applyStore(name, { [`${CAPABILITY}-v2-a`]: "1" });
    await storeCR(uuid, CAPABILITY).createStore();
    expect((await getStore(integrationCluster(), name))?.data).toEqual({
      [`${CAPABILITY}-v2-a`]: "1",
    });
  });

  it("throws the API server's 403", async () => {
    const { uuid, name } = uniqueStore("create-403");
    const kc = await forbiddenKubeconfig();
    const restore = useKubeconfigEnv(kc.file);
    try {
      const err = await rejection(storeCR(uuid, CAPABILITY).createStore());
      expect(err).toBeInstanceOf(PermissionDeniedError);
      expect(err.message).toMatch(
        /^permission denied: cannot create peprstores.pepr.dev in namespace pepr-system .* cannot create resource "peprstores"/,
      );
    } finally {
      restore();
      kc.remove();
    }
    expect(await getStore(integrationCluster(), name)).toBeUndefined();
  });

  it("POSTs to the collection and gives up after its timeout", async () => {
    const server = await tinyServer(() => undefined);
    try {
      const create = () => storeCR("u", CAPABILITY, 200).createStore();
      const err = await rejection(against(server.url, create));
      expect(err.message).toBe(
        `create peprstores.pepr.dev "pepr-u-store" in namespace pepr-system: no answer from ${server.url} within 200 ms`,
      );
      expect(server.requests).toEqual(["POST /apis/pepr.dev/v1/namespaces/pepr-system/peprstores"]);
    } finally {
      await server.close();
    }
  });
});

describe("confirmWrites on the API server", () => {
  const expected = { a: "1", "https://observed": "yay" };
  /** A Store whose writes nobody flushes: each setItemAndWait is recorded and fails. */
  const unflushedStore = (writes: string[]) => ({
    setItemAndWait: async (key: string) => {
      writes.push(key);
      throw "MAX_WAIT_TIME elapsed";
    },
  });

  it("resolves without a write when the CR holds every key with its value", async () => {
    const logs = recordLogs(Log, symbols.streamSym);
    const { uuid, name } = uniqueStore("confirm");
    await applyStore(name, {
      [`${CAPABILITY}-v2-a`]: "1",
      [`${CAPABILITY}-v2-https://observed`]: "yay",
    });
    const writes: string[] = [];
    await confirmWrites(
      unflushedStore(writes),
      expected,
      Promise.resolve(),
      storeCR(uuid, CAPABILITY),
    );
    expect(writes).toEqual([]);
    expect(logs).toEqual([]);
  });

  it("re-creates a missing CR and rejects when the keys never land", async () => {
    const logs = recordLogs(Log, symbols.streamSym);
    const { uuid, name } = uniqueStore("confirm-missing");
    const writes: string[] = [];
    const running = confirmWrites(
      unflushedStore(writes),
      expected,
      Promise.resolve(),
      storeCR(uuid, CAPABILITY),
      { attempts: 2, backoffMs: 1 },
    );
    await expect(running).rejects.toThrow(
      "store writes not confirmed after 2 checks: missing a, https://observed",
    );
    expect(writes).toEqual(["a", "https://observed"]);
    expect((await getStore(integrationCluster(), name))?.data).toEqual(PLACEHOLDER);
    expect(logs.map(r => r.msg)).toEqual([
      "store CR missing: creating it again",
      "re-writing store keys",
      "store writes not confirmed",
    ]);
  });

  it("rejects when the CR cannot be read: the 403 is the reason", async () => {
    const logs = recordLogs(Log, symbols.streamSym);
    const { uuid, name } = uniqueStore("confirm-403");
    await applyStore(name, {
      [`${CAPABILITY}-v2-a`]: "1",
      [`${CAPABILITY}-v2-https://observed`]: "yay",
    });
    const kc = await forbiddenKubeconfig();
    const restore = useKubeconfigEnv(kc.file);
    try {
      const running = confirmWrites(
        unflushedStore([]),
        expected,
        Promise.resolve(),
        storeCR(uuid, CAPABILITY),
        { readTries: 2, readPauseMs: 1 },
      );
      await expect(running).rejects.toThrow(
        `store writes not confirmed after 1 checks: the store CR could not be read in 2 tries: permission denied: cannot get peprstores.pepr.dev "${name}" in namespace pepr-system`,
      );
    } finally {
      restore();
      kc.remove();
    }
    expect(logs.map(r => `${r.level} ${r.msg}`)).toEqual([
      "40 store CR could not be read: retrying",
      "50 store writes not confirmed",
    ]);
  });
});
