import { Capability, Log, a } from "pepr";

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

/**
 * Reacts to the creation of the ConfigMap `observe` in namespace `hello-pepr-store-resources`:
 *
 *   kubectl create cm observe -n hello-pepr-store-resources
 *
 * Queues `a`, `b` and `c` for the next Store flush, writes `https://observed` and waits until the
 * PeprStore watch reports that key back, then logs "observed". If the key is not seen within
 * Pepr's wait limit the callback rejects and nothing is logged.
 */
When(a.ConfigMap)
  .IsCreated()
  .WithName("observe")
  .Watch(async function observeWatch() {
    Store.setItem("a", "1");
    Store.setItem("b", "2");
    Store.setItem("c", "3");
    await Store.setItemAndWait("https://observed", "yay");
    Log.info("observed");
  });
