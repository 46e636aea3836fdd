// The objects of the deploy manifest `npx pepr build` writes (dist/pepr-module-<uuid>.yaml), and
// which of them the API server has: what the README's removal commands leave, read back through
// client-node.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

// cluster/kube.ts, not the barrel: the unit tier reads manifests too, without Pepr's sources
import type { ControlPlane } from "../../cluster/controlplane";
import { ObjectHeader, readObject } from "../../cluster/kube";

/** The objects of the multi-document YAML `file`, in its order (empty documents left out). */
export function manifestObjects<T = ObjectHeader>(file: string): T[] {
  return parseAllDocuments(readFileSync(file, "utf8"))
    .map(d => d.toJS() as T | null)
    .filter(d => d !== null);
}

/**
 * The objects of the manifest `file` that exist on `cp`, as `Kind/name`, in the manifest's order
 * (what `kubectl get -f FILE --ignore-not-found` lists).
 */
export async function existingManifestObjects(cp: ControlPlane, file: string): Promise<string[]> {
  const objects = manifestObjects(file);
  const found = await Promise.all(objects.map(o => readObject(cp, o)));
  return objects.filter((_, i) => found[i] !== undefined).map(o => `${o.kind}/${o.metadata.name}`);
}
