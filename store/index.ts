// The library: read a Pepr module's Store from outside the module, decoded per capability.
// Importing it registers the PeprStore kind with kubernetes-fluent-client.

/** Read a store once, or watch it for key changes. */
export { readStore, watchStore } from "./read";
/** Create a store as Pepr does at start-up (for a capability that finds it deleted). */
export { createStore } from "./create";
/** Options and results of readStore and watchStore. */
export type {
  StoreOptions,
  StoreSnapshot,
  StoreChangeEvent,
  WatchOptions,
  StoreWatch,
} from "./read";
/** The PeprStore kind (kubernetes-fluent-client GenericKind), registered on import. */
export { PeprStore } from "./peprstore";
/** Pure decoding of a PeprStore's data: no cluster needed. */
export {
  decodeStoreData,
  classifyKey,
  inferCapabilities,
  diffDecoded,
  lastFlushTime,
} from "./decode";
/** Types of the decoded data and its changes. */
export type { CapabilityData, DecodedData, KeyClass, StoreChange, ChangeType } from "./decode";
/** The errors, one class per cause, told apart by `code`. */
export {
  StoreError,
  KubeconfigError,
  ClusterUnreachableError,
  CrdNotInstalledError,
  StoreNotFoundError,
  UnknownCapabilityError,
  UnauthorizedError,
  PermissionDeniedError,
  ApiError,
} from "./errors";
/** The `code` of each error class. */
export type { StoreErrorCode } from "./errors";
/** The store contract: where and how Pepr keeps a module's Store (namespace, name, keys, timings). */
export {
  STORE_NAMESPACE,
  PEPR_STORE_GVK,
  PEPR_STORE_RESOURCE,
  PLACEHOLDER_KEY,
  PLACEHOLDER_VALUE,
  PLACEHOLDER,
  CACHE_ID_LABEL,
  V2_SEPARATOR,
  keyPrefix,
  storeName,
  scheduleStoreName,
  FLUSH_INTERVAL_MS,
  RECEIVE_DEBOUNCE_MS,
  SET_ITEM_AND_WAIT_MS,
  moduleUUID,
  PACKAGE_NAME,
} from "./contract";
/** This module's capability names, the default of readStore and watchStore. */
export { MODULE_CAPABILITIES } from "./capabilities";
/** The CLI's output formats, as a library (the CLI itself is ./cli.ts). */
export { formatSnapshot, formatChange, formatTable, OUTPUT_FORMATS } from "./format";
/** The output format names. */
export type { OutputFormat } from "./format";
