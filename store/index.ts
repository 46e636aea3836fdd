// The library: read a Pepr module's Store from outside the module, decoded per capability.
// Importing it registers the PeprStore kind with kubernetes-fluent-client.

/** Read a store once, or watch it for key changes. */
export { readStore, watchStore, PEPR_STORE_RESOURCE } from "./read";
/** Options and results of readStore and watchStore. */
export type {
  StoreOptions,
  StoreSnapshot,
  StoreChangeEvent,
  WatchOptions,
  StoreWatch,
} from "./read";
/** The PeprStore kind (kubernetes-fluent-client GenericKind) and its group/version/kind. */
export { PeprStore, PEPR_STORE_GVK } from "./peprstore";
/** Pure decoding of a PeprStore's data: no cluster needed. */
export {
  decodeStoreData,
  classifyKey,
  inferCapabilities,
  diffDecoded,
  lastFlushTime,
  storeName,
  STORE_NAMESPACE,
  PLACEHOLDER_KEY,
  CACHE_ID_LABEL,
  V2_SEPARATOR,
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
/** This module's uuid and capability names, the defaults of readStore and watchStore. */
export { moduleUUID, MODULE_CAPABILITIES, PACKAGE_NAME } from "./module";
/** The CLI's output formats, as a library (the CLI itself is ./cli.ts). */
export { formatSnapshot, formatChange, formatTable, OUTPUT_FORMATS } from "./format";
/** The output format names. */
export type { OutputFormat } from "./format";
