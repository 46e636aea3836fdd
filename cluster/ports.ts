// The fixed ports a run needs, checked before anything is built or started, so a taken port fails
// the run in well under a second and names what needs it. Only node:net is imported here: callers
// check ports before loading the rest of the package.
import net from "node:net";

/** Port of the watcher's HTTPS server (/healthz, /metrics); fixed in Pepr, so one watcher per machine. */
export const WATCHER_PORT = 3000;
/** How long {@link assertPortsFree} waits for a taken port to be released; default 0 (fail at once). */
export const ENV_WATCHER_PORT_WAIT = "WATCHER_PORT_WAIT_MS";
/** Pause between two tries while waiting for a port. */
const PORT_POLL_MS = 1000;

/** A fixed port and what needs it. */
export interface NeededPort {
  port: number;
  /** What listens there during a run, for the error message. */
  name: string;
}

/** The Pepr watcher's port. */
export const WATCHER: NeededPort = {
  port: WATCHER_PORT,
  name: "the Pepr watcher's HTTPS server (/healthz; the port is fixed in Pepr)",
};

/**
 * Every fixed port of `npm start` and the tests. The control plane's ports (kube-apiserver, etcd,
 * its control endpoint) are picked free at start, so they are not listed.
 */
export const RUN_PORTS: readonly NeededPort[] = [WATCHER];

/** Thrown when a needed port is taken. */
export class PortInUseError extends Error {
  constructor(
    readonly needed: NeededPort,
    options?: ErrorOptions,
  ) {
    super(
      `port ${needed.port} is in use; ${needed.name} needs it. Stop what listens there ` +
        `(another npm start, Pepr watcher or pepr dev?), or set ${ENV_WATCHER_PORT_WAIT}=<ms> to wait for it`,
      options,
    );
    this.name = "PortInUseError";
  }
}

/** Whether `port` can be listened on now (on every interface, as Pepr's server listens). */
export function portFree(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, () => server.close(() => resolve(true)));
  });
}

/**
 * Fails when one of `ports` is taken, after waiting up to `waitMs` for it to be released.
 *
 * @param ports - the ports to check (default {@link RUN_PORTS})
 * @param waitMs - how long to wait for a taken port (default $WATCHER_PORT_WAIT_MS, else 0)
 * @throws PortInUseError naming the first port still taken
 */
export async function assertPortsFree(
  ports: readonly NeededPort[] = RUN_PORTS,
  waitMs = Number(process.env[ENV_WATCHER_PORT_WAIT] ?? 0),
): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (const needed of ports) {
    for (let tries = 0; !(await portFree(needed.port)); tries++) {
      if (Date.now() >= deadline) throw new PortInUseError(needed);
      if (tries === 0) {
        const s = Math.round((deadline - Date.now()) / 1000);
        process.stderr.write(
          `port ${needed.port} is in use: waiting up to ${s}s for it (${ENV_WATCHER_PORT_WAIT})\n`,
        );
      }
      await new Promise(resolve => setTimeout(resolve, PORT_POLL_MS));
    }
  }
}
