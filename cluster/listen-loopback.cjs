// Preloaded into the local Pepr watcher (node --require): Pepr's controller listens on every
// address (`https.createServer(...).listen(port)`), and this watcher holds the cluster's admin
// kubeconfig, so it must be reachable from this machine only. A listen given a port and no host
// gets 127.0.0.1; a deployed watcher, in its pod's network, is not affected.
"use strict";

const net = require("node:net");

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function listenOnLoopback(...args) {
  if (typeof args[0] === "number" && typeof args[1] !== "string") args.splice(1, 0, "127.0.0.1");
  return listen.apply(this, args);
};
