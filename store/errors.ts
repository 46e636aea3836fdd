// The errors readStore and watchStore throw: one class per cause, each with a stable `code`, a
// message that says where and what, and the underlying error as `cause`.

/** Every {@link StoreError} `code`. */
export type StoreErrorCode =
  | "KUBECONFIG"
  | "UNREACHABLE"
  | "CRD_NOT_INSTALLED"
  | "STORE_NOT_FOUND"
  | "UNKNOWN_CAPABILITY"
  | "UNAUTHORIZED"
  | "PERMISSION_DENIED"
  | "API_ERROR";

/** Base class of the errors of this library; `code` says which one it is. */
export abstract class StoreError extends Error {
  abstract readonly code: StoreErrorCode;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** No usable kubeconfig: none found, unreadable, or the context does not exist. */
export class KubeconfigError extends StoreError {
  readonly code = "KUBECONFIG";
}

/** The API server did not answer (connection refused, DNS, TLS, timeout). */
export class ClusterUnreachableError extends StoreError {
  readonly code = "UNREACHABLE";

  constructor(
    message: string,
    /** The API server URL that was tried. */
    readonly server: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The API server does not serve peprstores.pepr.dev/v1: the PeprStore CRD is not installed. */
export class CrdNotInstalledError extends StoreError {
  readonly code = "CRD_NOT_INSTALLED";
}

/** The module's PeprStore does not exist. */
export class StoreNotFoundError extends StoreError {
  readonly code = "STORE_NOT_FOUND";

  constructor(
    message: string,
    /** The PeprStores that do exist in the namespace; `null` when they could not be listed. */
    readonly stores: string[] | null,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The capability asked for has no keys in the store and is not one of the module's. */
export class UnknownCapabilityError extends StoreError {
  readonly code = "UNKNOWN_CAPABILITY";

  constructor(
    message: string,
    /** The capabilities the store does have. */
    readonly capabilities: string[],
  ) {
    super(message);
  }
}

/** The API server did not accept the credentials (HTTP 401). */
export class UnauthorizedError extends StoreError {
  readonly code = "UNAUTHORIZED";
}

/** The credentials may not do what was needed (HTTP 403). */
export class PermissionDeniedError extends StoreError {
  readonly code = "PERMISSION_DENIED";

  constructor(
    message: string,
    /** The API verb that was denied: get, list or watch. */
    readonly verb: string,
    /** The resource, `peprstores.pepr.dev`. */
    readonly resource: string,
    /** The namespace of the request. */
    readonly namespace: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Any other failure of a request to the API server. */
export class ApiError extends StoreError {
  readonly code = "API_ERROR";

  constructor(
    message: string,
    /** The HTTP status, when there was a response. */
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
