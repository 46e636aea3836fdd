// The PeprStore custom resource as a kubernetes-fluent-client kind: what
// `npx kubernetes-fluent-client crd` generates for Pepr's peprstores.pepr.dev CRD, and the one
// RegisterKind for it in this package.
import { GenericKind, RegisterKind } from "kubernetes-fluent-client";

import { PEPR_STORE_GVK } from "./contract";

/**
 * A PeprStore: Pepr keeps every capability's Store of one module in a single resource of this
 * kind, `pepr-<uuid>-store` in namespace `pepr-system` (CRD `peprstores.pepr.dev`, where `data`
 * is a map of strings).
 */
export class PeprStore extends GenericKind {
  /** The store's keys (`<capability>-v2-<key>`) and values, plus Pepr's placeholder. */
  declare data?: Record<string, string>;
}

RegisterKind(PeprStore, PEPR_STORE_GVK);
