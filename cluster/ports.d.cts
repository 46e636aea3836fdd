// Types of ports.cjs (plain CommonJS, so that `npm start` checks ports before tsx loads).

/** Port of the watcher's HTTPS server (/healthz, /metrics); fixed in Pepr, so one watcher per machine. */
export declare const WATCHER_PORT: 3000;
/** How long {@link assertPortsFree} waits for a taken port to be released; default 0 (fail at once). */
export declare const ENV_WATCHER_PORT_WAIT: "WATCHER_PORT_WAIT_MS";

/** A fixed port and what needs it. */
export interface NeededPort {
  port: number;
  /** What listens there during a run, for the error message. */
  name: string;
}

/** The Pepr watcher's port. */
export declare const WATCHER: NeededPort;
/** Every fixed port of `npm start` and the tests (the control plane's ports are picked free). */
export declare const RUN_PORTS: readonly NeededPort[];

/** Thrown when a needed port is taken; the message names the port and what needs it. */
export declare class PortInUseError extends Error {
  readonly needed: NeededPort;
  constructor(needed: NeededPort, options?: ErrorOptions);
}

/** Whether `port` can be listened on now (on every interface, as Pepr's server listens). */
export declare function portFree(port: number): Promise<boolean>;

/**
 * Fails when one of `ports` is taken, after waiting up to `waitMs` for it to be released.
 *
 * @param ports - the ports to check (default {@link RUN_PORTS})
 * @param waitMs - how long to wait for a taken port (default $WATCHER_PORT_WAIT_MS, else 0)
 * @throws PortInUseError naming the first port still taken
 */
export declare function assertPortsFree(
  ports?: readonly NeededPort[],
  waitMs?: number,
): Promise<void>;
