// Preloaded into the Pepr watcher (node --require): when the process that started it is gone
// (a test runner or `npm start` killed with SIGKILL), the watcher stops too instead of holding
// its fixed port 3000 for every later run. The control plane does the same in Go (up.go).
// Nothing is printed: whoever read the watcher's output died with the parent.
"use strict";

const POLL_MS = 1000;

// process.ppid is read live (Node 20.20: a getter over uv_os_getppid): when the parent dies the
// watcher is re-parented (to 1, or to a subreaper) and ppid changes. Comparing with the pid seen
// at start-up, rather than probing that pid with signal 0, also holds when the pid is reused.
const parent = process.ppid;
const poll = setInterval(() => {
  if (process.ppid === parent) return;
  clearInterval(poll);
  // Not SIGTERM: Pepr's handler logs first, into the dead pipe, and never gets to exit.
  process.exit(143);
}, POLL_MS).unref();
