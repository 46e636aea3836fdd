// A kubeconfig file for a test that must reach a server as someone else, or reach nothing: a
// ServiceAccount's token, a tiny local HTTP server, a port where nothing listens. Loads only
// node: modules, so any tier's test file may import it.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * Writes a kubeconfig (mode 0600, in a directory of its own) with one context on `server`
 * authenticating with `token`.
 *
 * @param cluster - more of the cluster entry (its CA, or `insecure-skip-tls-verify`)
 * @param context - the context's name
 * @returns the file, and `remove()` to delete its directory
 */
export function kubeconfigFor(server: string, token: string, cluster: object = {}, context = "c") {
  const dir = mkdtempSync(path.join(os.tmpdir(), "hpsr-kc-"));
  const file = path.join(dir, "kubeconfig");
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { ...cluster, server } }],
      users: [{ name: "u", user: { token } }],
      contexts: [{ name: context, context: { cluster: "c", user: "u" } }],
      "current-context": context,
    }),
    { mode: 0o600 },
  );
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
