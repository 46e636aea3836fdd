// store/read.ts (readStore, watchStore, httpStatus) through its real kubernetes-fluent-client
// requests on the real API server; a tiny local server only for a 404 whose body is broken.
import { K8s } from "kubernetes-fluent-client";

import {
  ClusterUnreachableError,
  PermissionDeniedError,
  StoreNotFoundError,
  UnknownCapabilityError,
} from "../../store/errors";
import { PeprStore } from "../../store/peprstore";
import { StoreChangeEvent, httpStatus, readStore, watchStore } from "../../store/read";
import { deleteObject, getStore, patchStore, peprStoreObject } from "../../cluster/kube";
import { waitFor } from "../../cluster/wait";
import {
  applyStore,
  closedPort,
  forbiddenKubeconfig,
  freshNamespace,
  integrationCluster,
  kubeconfigAllowedTo,
  tinyServer,
  uniqueName,
  useKubeconfigEnv,
} from "./cluster";
import { kubeconfigFor } from "../shared-cluster/kubeconfig";

const CAP = "cap";
const PLACEHOLDER = { __pepr_do_not_delete__: "k-thx-bye" };

/** What `fn` threw (fails the test if it returned). */
async function thrown(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

/** A store `pepr-<uuid>-store` in a namespace of its own. */
async function storeWith(
  data: Record<string, string> | undefined,
  labels?: Record<string, string>,
) {
  const namespace = await freshNamespace();
  const uuid = uniqueName("u");
  const name = `pepr-${uuid}-store`;
  await applyStore(name, data, labels, namespace);
  const { kubeconfig } = integrationCluster();
  return { namespace, uuid, name, options: { kubeconfig, namespace, uuid } };
}

const resourceVersion = async (name: string, namespace: string): Promise<string | undefined> =>
  (await getStore(integrationCluster(), name, namespace))?.metadata.resourceVersion;

describe("readStore", () => {
  it("decodes the CR per capability, with its name, resourceVersion and last flush", async () => {
    const { name, namespace, options } = await storeWith(
      {
        ...PLACEHOLDER,
        "cap-v2-a": "1",
        "cap-v2-https://observed": "yay",
        "cap-old": "pre-v2",
        "cap-two-v2-b": "2",
        stray: "x",
      },
      { "pepr.dev-cacheID": "1726798504000" },
    );
    expect(await readStore({ ...options, capabilities: [CAP, "cap-two"] })).toEqual({
      name,
      namespace,
      resourceVersion: await resourceVersion(name, namespace),
      lastFlush: new Date(1726798504000),
      capabilities: {
        cap: { items: { a: "1", "https://observed": "yay" }, unmigrated: { old: "pre-v2" } },
        "cap-two": { items: { b: "2" }, unmigrated: {} },
      },
      unrecognized: { stray: "x" },
    });
  });

  it("keeps only the capability asked for", async () => {
    const { options } = await storeWith({ "cap-v2-a": "1", "cap-two-v2-b": "2", stray: "x" });
    const snapshot = await readStore({
      ...options,
      capabilities: [CAP, "cap-two"],
      capability: CAP,
    });
    expect(snapshot.capabilities).toEqual({ cap: { items: { a: "1" }, unmigrated: {} } });
    expect(snapshot.unrecognized).toEqual({});
    expect(snapshot.lastFlush).toBeNull();
  });

  it("names the capabilities there are when the one asked for is not in the store", async () => {
    const { name, namespace, options } = await storeWith({ "cap-v2-a": "1" });
    const err = await thrown(() => readStore({ ...options, capability: "nope" }));
    expect(err).toBeInstanceOf(UnknownCapabilityError);
    expect(err).toMatchObject({
      capabilities: [CAP],
      message: `capability "nope" not found in PeprStore ${name} (namespace ${namespace}); capabilities: cap`,
    });
    const two = await storeWith({ "cap-v2-a": "1", "cap-two-v2-b": "2" });
    expect(await thrown(() => readStore({ ...two.options, capability: "nope" }))).toMatchObject({
      capabilities: [CAP, "cap-two"],
      message: `capability "nope" not found in PeprStore ${two.name} (namespace ${two.namespace}); capabilities: cap, cap-two`,
    });
    const empty = await storeWith(PLACEHOLDER);
    const none = await thrown(() => readStore({ ...empty.options, capability: "nope" }));
    expect(none).toMatchObject({
      capabilities: [],
      message: `capability "nope" not found in PeprStore ${empty.name} (namespace ${empty.namespace}); capabilities: none`,
    });
  });

  it("lists the PeprStores there are when the module's does not exist", async () => {
    const namespace = await freshNamespace();
    await applyStore("pepr-b-store", PLACEHOLDER, undefined, namespace);
    await applyStore("pepr-a-store", PLACEHOLDER, undefined, namespace);
    const { kubeconfig } = integrationCluster();
    const err = await thrown(() => readStore({ kubeconfig, namespace, uuid: "x" }));
    expect(err).toBeInstanceOf(StoreNotFoundError);
    expect(err).toMatchObject({
      stores: ["pepr-a-store", "pepr-b-store"],
      message: `PeprStore pepr-x-store: not found in namespace ${namespace}; PeprStores in ${namespace}: pepr-a-store, pepr-b-store`,
    });
    const empty = await freshNamespace();
    const none = await thrown(() => readStore({ kubeconfig, namespace: empty, uuid: "x" }));
    expect((none as Error).message).toMatch(/; PeprStores in it-[^:]+: none$/);
    expect(none).toMatchObject({ stores: [] });
    // the cause is the get's 404, a Status about a PeprStore
    expect((none as Error).cause).toMatchObject({
      status: 404,
      data: {
        kind: "Status",
        details: { group: "pepr.dev", kind: "peprstores", name: "pepr-x-store" },
      },
    });
  });

  it("reports a 403 as a permission error naming the request", async () => {
    const { name, namespace, options } = await storeWith(PLACEHOLDER);
    const kc = await forbiddenKubeconfig();
    try {
      const err = await thrown(() => readStore({ ...options, kubeconfig: kc.file }));
      expect(err).toBeInstanceOf(PermissionDeniedError);
      expect(err).toMatchObject({ verb: "get", namespace });
      expect((err as Error).message).toBe(
        `permission denied: cannot get peprstores.pepr.dev "${name}" in namespace ${namespace} (context "c"); ` +
          `the API server said: peprstores.pepr.dev "${name}" is forbidden: User "system:serviceaccount:default:${kc.user}" ` +
          `cannot get resource "peprstores" in API group "pepr.dev" in the namespace "${namespace}"`,
      );
    } finally {
      kc.remove();
    }
  });

  it("says the store exists only as far as it can tell when get is allowed and list is not", async () => {
    const namespace = await freshNamespace();
    const kc = await kubeconfigAllowedTo(["get"], namespace);
    try {
      const options = { kubeconfig: kc.file, namespace, uuid: "x" };
      // RBAC applies a new binding once its informer has it: wait for the 404 of a get.
      const err = await waitFor("get to be allowed", async () => {
        const e = await thrown(() => readStore(options));
        return e instanceof StoreNotFoundError ? e : undefined;
      });
      expect(err).toMatchObject({
        stores: null,
        message: `PeprStore pepr-x-store: not found in namespace ${namespace} (the PeprStores there cannot be listed: list is forbidden)`,
      });
      expect((err as Error).cause).toMatchObject({ status: 404, data: { kind: "Status" } });
      // watchStore needs list too: with the store there, it is the list that is refused
      await applyStore("pepr-x-store", PLACEHOLDER, undefined, namespace);
      const listErr = await thrown(() => watchStore(options, () => undefined));
      expect(listErr).toBeInstanceOf(PermissionDeniedError);
      expect(listErr).toMatchObject({ verb: "list", namespace });
      expect((listErr as Error).message).toBe(
        `permission denied: cannot list peprstores.pepr.dev in namespace ${namespace} (context "c"); ` +
          `the API server said: peprstores.pepr.dev "pepr-x-store" is forbidden: User "system:serviceaccount:default:${kc.user}" ` +
          `cannot list resource "peprstores" in API group "pepr.dev" in the namespace "${namespace}"`,
      );
    } finally {
      kc.remove();
    }
  });

  it("reports a refused connection as an unreachable cluster", async () => {
    const port = await closedPort();
    const kc = kubeconfigFor(`https://127.0.0.1:${port}`, "t", {
      "insecure-skip-tls-verify": true,
    });
    try {
      const err = await thrown(() => readStore({ kubeconfig: kc.file }));
      expect(err).toBeInstanceOf(ClusterUnreachableError);
      expect((err as Error).message).toBe(
        `cannot reach the API server https://127.0.0.1:${port} (context "c" of ${kc.file}): connect ECONNREFUSED 127.0.0.1:${port}`,
      );
    } finally {
      kc.remove();
    }
  });
});

describe("httpStatus of what kubernetes-fluent-client throws", () => {
  const getStore = (namespace: string, name: string) =>
    thrown(() => K8s(PeprStore).InNamespace(namespace).Get(name));

  it("is the status of the API server's answer: 404, 403", async () => {
    const restore = useKubeconfigEnv(integrationCluster().kubeconfig);
    try {
      expect(httpStatus(await getStore("pepr-system", uniqueName("absent")))).toBe(404);
    } finally {
      restore();
    }
    const kc = await forbiddenKubeconfig();
    const restoreForbidden = useKubeconfigEnv(kc.file);
    try {
      expect(httpStatus(await getStore("pepr-system", "any"))).toBe(403);
    } finally {
      restoreForbidden();
      kc.remove();
    }
  });

  it("is undefined without a usable answer: refused connection, or a 404 whose body is broken", async () => {
    const port = await closedPort();
    const server = await tinyServer((_req, res) => {
      res.writeHead(404, { "content-type": "application/json" });
      res.end("{not json");
    });
    try {
      for (const url of [`http://127.0.0.1:${port}`, server.url]) {
        const kc = kubeconfigFor(url, "t", { "insecure-skip-tls-verify": true });
        const restore = useKubeconfigEnv(kc.file);
        try {
          const err = await getStore("pepr-system", "s");
          expect(err).toMatchObject({ ok: false });
          expect(httpStatus(err)).toBeUndefined();
        } finally {
          restore();
          kc.remove();
        }
      }
      expect(server.requests).toEqual([
        "GET /apis/pepr.dev/v1/namespaces/pepr-system/peprstores/s",
      ]);
    } finally {
      await server.close();
    }
    expect(httpStatus(new Error("not a response"))).toBeUndefined();
    expect(httpStatus({ ok: false, status: "404" })).toBeUndefined();
  });
});

describe("watchStore", () => {
  it("reports the keys there, then every added, changed and removed key, and the CR's deletion", async () => {
    const { name, namespace, options } = await storeWith({ ...PLACEHOLDER, "cap-v2-a": "1" });
    const changes: StoreChangeEvent[] = [];
    const watch = await watchStore({ ...options, capabilities: [CAP] }, c => changes.push(c));
    const seen = (n: number) =>
      waitFor(`${n} store changes`, () => (changes.length >= n ? true : undefined), 15_000);
    const strip = () =>
      changes.map(c =>
        Object.fromEntries(
          Object.entries(c).filter(([k]) => k !== "time" && k !== "resourceVersion"),
        ),
      );
    try {
      expect(watch.initial).toMatchObject({
        name,
        namespace,
        resourceVersion: await resourceVersion(name, namespace),
      });
      expect(strip()).toEqual([
        { type: "added", capability: CAP, key: "a", value: "1", unmigrated: false },
      ]);
      expect(changes[0].resourceVersion).toBe(watch.initial.resourceVersion);

      await patchStore(integrationCluster(), { name, namespace }, [
        { op: "add", path: "/data/cap-v2-b", value: "2" },
        { op: "replace", path: "/data/cap-v2-a", value: "one" },
      ]);
      await seen(3);
      await patchStore(integrationCluster(), { name, namespace }, [
        { op: "remove", path: "/data/cap-v2-b" },
      ]);
      await seen(4);
      expect(changes[3].resourceVersion).toBe(await resourceVersion(name, namespace));
      await deleteObject(integrationCluster(), peprStoreObject(name, namespace));
      await seen(5);
      expect(strip()).toEqual([
        { type: "added", capability: CAP, key: "a", value: "1", unmigrated: false },
        {
          type: "changed",
          capability: CAP,
          key: "a",
          value: "one",
          previous: "1",
          unmigrated: false,
        },
        { type: "added", capability: CAP, key: "b", value: "2", unmigrated: false },
        { type: "removed", capability: CAP, key: "b", previous: "2", unmigrated: false },
        { type: "removed", capability: CAP, key: "a", previous: "one", unmigrated: false },
      ]);
    } finally {
      watch.stop();
    }
    await expect(watch.done).resolves.toBeUndefined();
    const count = changes.length;
    await applyStore(name, { "cap-v2-z": "late" }, undefined, namespace);
    expect(await readStore(options)).toMatchObject({
      capabilities: { cap: { items: { z: "late" } } },
    });
    expect(changes).toHaveLength(count);
  });

  it("fails when the watch itself is denied (get and list allowed), with $KUBECONFIG restored", async () => {
    const { namespace, options } = await storeWith(PLACEHOLDER);
    const kc = await kubeconfigAllowedTo(["get", "list"], namespace);
    try {
      const saOptions = { ...options, kubeconfig: kc.file };
      await waitFor("the role to apply", () => readStore(saOptions));
      const before = process.env.KUBECONFIG;
      const changes: StoreChangeEvent[] = [];
      const err = await thrown(() => watchStore(saOptions, c => changes.push(c)));
      expect(err).toBeInstanceOf(PermissionDeniedError);
      expect(err).toMatchObject({
        verb: "watch",
        namespace,
        message: `permission denied: cannot watch peprstores.pepr.dev in namespace ${namespace} (context "c")`,
      });
      expect(process.env.KUBECONFIG).toBe(before);
      expect(changes).toEqual([]);
    } finally {
      kc.remove();
    }
  });

  it("passes what onChange throws to onWarning and goes on", async () => {
    const { name, namespace, options } = await storeWith({ "cap-v2-a": "1" });
    const warnings: Error[] = [];
    const seen: string[] = [];
    const thrownError = new Error("onChange failed");
    const watch = await watchStore(
      { ...options, capabilities: [CAP], onWarning: w => warnings.push(w) },
      c => {
        seen.push(c.key);
        if (c.key === "error") throw thrownError;
        if (c.key === "string") throw "a string";
      },
    );
    try {
      for (const key of ["error", "string", "after"]) {
        const patch = { data: { [`cap-v2-${key}`]: key } };
        await patchStore(integrationCluster(), { name, namespace }, patch, "merge");
        await waitFor(`the change of ${key}`, () => (seen.includes(key) ? true : undefined));
      }
    } finally {
      watch.stop();
    }
    expect(seen).toEqual(["a", "error", "string", "after"]);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toBe(thrownError);
    expect(warnings[1]).toBeInstanceOf(Error);
    expect(warnings[1].message).toBe(`watch of PeprStore ${name}: bad event: a string`);
  });

  it("reports only the capability asked for", async () => {
    const { name, namespace, options } = await storeWith({ "cap-v2-a": "1", "cap-two-v2-b": "2" });
    const changes: StoreChangeEvent[] = [];
    const watch = await watchStore(
      { ...options, capabilities: [CAP, "cap-two"], capability: "cap-two" },
      c => changes.push(c),
    );
    try {
      await patchStore(integrationCluster(), { name, namespace }, [
        { op: "add", path: "/data/cap-v2-c", value: "3" },
        { op: "add", path: "/data/cap-two-v2-d", value: "4" },
      ]);
      await waitFor("2 changes", () => (changes.length >= 2 ? true : undefined), 15_000);
      expect(changes.map(c => `${c.type} ${c.capability} ${c.key}`)).toEqual([
        "added cap-two b",
        "added cap-two d",
      ]);
    } finally {
      watch.stop();
    }
  });
});
