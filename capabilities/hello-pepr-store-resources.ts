import { Capability, Log, a } from "pepr";

import cfg from "../package.json";
import { confirmWrites, storeCR } from "./confirm-writes";

const name = "hello-pepr-store-resources";

/**
 * Shows how Pepr Store operations end up in the PeprStore custom resource: creating the
 * ConfigMap `observe` writes four keys to this capability's Store.
 */
export const HelloPeprStoreResources = new Capability({
  name,
  description:
    "Writes four keys to the Pepr Store when the ConfigMap observe is created, so they can be inspected in the PeprStore resource.",
  namespaces: ["hello-pepr-store-resources"],
});

const { When, Store } = HelloPeprStoreResources;

/** Every key observeWatch writes, with its value: what confirmWrites checks. */
export const OBSERVE_WRITES: Readonly<Record<string, string>> = {
  a: "1",
  b: "2",
  c: "3",
  "https://observed": "yay",
};

/** The module's store CR, `pepr-<uuid>-store`, where confirmWrites reads the keys back. */
const storeOnTheAPIServer = storeCR(cfg.pepr.uuid, name);

/**
 * Reacts to the creation of the ConfigMap `observe` in namespace `hello-pepr-store-resources`:
 *
 *   kubectl create cm observe -n hello-pepr-store-resources
 *
 * Queues `a`, `b` and `c` for the next Store flush, writes `https://observed` and waits until the
 * PeprStore watch reports that key back. Then confirmWrites reads the CR back from the API server,
 * re-writes any key that Pepr lost (bounded, with backoff) and re-creates the CR if it was
 * deleted, so "observed" is logged only when the API server holds all four; otherwise (keys still
 * missing, or the CR unreadable) it logs "store writes not confirmed" and rejects, within
 * CONFIRM_WORST_CASE_MS (./deadlines.ts).
 */
When(a.ConfigMap)
  .IsCreated()
  .WithName("observe")
  .Watch(async function observeWatch() {
    Store.setItem("a", "1");
    Store.setItem("b", "2");
    Store.setItem("c", "3");
    const observed = Store.setItemAndWait("https://observed", "yay");
    await confirmWrites(Store, OBSERVE_WRITES, observed, storeOnTheAPIServer);
    Log.info("observed");
  });
