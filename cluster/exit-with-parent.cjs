// Preloaded into the Pepr watcher (node --require): when the process that started it is gone
// (a test runner or `npm start` killed with SIGKILL), the watcher stops too instead of holding
// its fixed port 3000 for every later run. The control plane does the same in Go (up.go).
// Nothing is printed: whoever read the watcher's output died with the parent.
"use strict";

const POLL_MS = 1000;

/** Whether process `pid` still exists (signal 0 only checks). */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code !== "ESRCH";
  }
}

// process.ppid is read once at start-up (Node 20), so ask whether the parent still exists.
const parent = process.ppid;
const poll = setInterval(() => {
  if (alive(parent)) return;
  clearInterval(poll);
  // Not SIGTERM: Pepr's handler logs first, into the dead pipe, and never gets to exit.
  process.exit(143);
}, POLL_MS).unref();
