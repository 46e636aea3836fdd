// The fixed ports a local-process watcher needs, checked before anything is built or started, so a
// taken port fails the run at once and names what needs it. Plain CommonJS (typed by ports.d.cts)
// with only node:net, so that scripts/start.ts checks it before the rest of the package loads.
"use strict";

const net = require("node:net");

/** Port of the watcher's HTTPS server (/healthz, /metrics); fixed in Pepr, so one watcher per machine. */
const WATCHER_PORT = 3000;
/** How long assertPortsFree waits for a taken port to be released; default 0 (fail at once). */
const ENV_WATCHER_PORT_WAIT = "WATCHER_PORT_WAIT_MS";
/** Pause between two tries while waiting for a port. */
const PORT_POLL_MS = 1000;

/** The Pepr watcher's port. */
const WATCHER = {
  port: WATCHER_PORT,
  name: "the Pepr watcher's HTTPS server (/healthz; the port is fixed in Pepr)",
};

/**
 * Every fixed port of a local-process watcher run (npm start --local, the e2e tests). The control
 * plane's ports (kube-apiserver, etcd, its control endpoint, the node's kubelet and kube-proxy) are
 * picked free at start, so they are not listed.
 */
const RUN_PORTS = Object.freeze([WATCHER]);

/** Thrown when a needed port is taken. */
class PortInUseError extends Error {
  constructor(needed, options) {
    super(
      `port ${needed.port} is in use; ${needed.name} needs it. Stop what listens there ` +
        `(another npm start, Pepr watcher or pepr dev?), or set ${ENV_WATCHER_PORT_WAIT}=<ms> to wait for it`,
      options,
    );
    this.name = "PortInUseError";
    this.needed = needed;
  }
}

/** Whether `port` can be listened on now (on every interface, as Pepr's server listens). */
function portFree(port) {
  return new Promise(resolve => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, () => server.close(() => resolve(true)));
  });
}

/** Fails when one of `ports` is taken, after waiting up to `waitMs` for it to be released. */
async function assertPortsFree(
  ports = RUN_PORTS,
  waitMs = Number(process.env[ENV_WATCHER_PORT_WAIT] ?? 0),
) {
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

module.exports = {
  WATCHER_PORT,
  ENV_WATCHER_PORT_WAIT,
  WATCHER,
  RUN_PORTS,
  PortInUseError,
  portFree,
  assertPortsFree,
};
