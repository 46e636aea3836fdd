// Creating a module's PeprStore as Pepr's StoreController does at start-up (with the placeholder
// and a cacheID label), for a capability that finds it deleted under a running watcher.
import { K8s } from "kubernetes-fluent-client";

import { CACHE_ID_LABEL, PEPR_STORE_GVK, PEPR_STORE_RESOURCE, PLACEHOLDER } from "./contract";
import { useKubeconfig } from "./kubeconfig";
import { PeprStore } from "./peprstore";
import { httpStatus, resolveOptions, StoreOptions, translate, withDeadline } from "./read";

/**
 * Creates the module's PeprStore holding only Pepr's placeholder. A store created by someone
 * else in the meantime (409) is fine.
 *
 * @param options - cluster, module uuid and `timeoutMs`; see {@link StoreOptions}
 * @throws the StoreErrors of readStore (ClusterUnreachableError at the deadline)
 */
export async function createStore(options: StoreOptions = {}): Promise<void> {
  const want = resolveOptions(options);
  const kubeconfig = useKubeconfig(options);
  const store = {
    apiVersion: `${PEPR_STORE_GVK.group}/${PEPR_STORE_GVK.version}`,
    kind: PEPR_STORE_GVK.kind,
    metadata: {
      name: want.name,
      namespace: want.namespace,
      labels: { [CACHE_ID_LABEL]: `${Date.now()}` },
    },
    data: { ...PLACEHOLDER },
  } as PeprStore;
  try {
    const request = `create ${PEPR_STORE_RESOURCE} "${want.name}" in namespace ${want.namespace}`;
    await withDeadline(K8s(PeprStore).Create(store), options.timeoutMs, request, kubeconfig.target);
  } catch (err) {
    if (httpStatus(err) !== 409) throw translate(err, "create", want, kubeconfig.target);
  } finally {
    kubeconfig.restore();
  }
}
