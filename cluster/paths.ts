// Where things are: the repository root and the files a build produces.
import path from "node:path";

import { moduleUUID } from "../store/contract";

/** The repository root: this package's parent folder (cluster/ lives at the top of the repo). */
export function repoRoot(): string {
  return path.resolve(__dirname, "..");
}

/** Files that `npx pepr build` writes into dist/. */
export function buildOutputs(root = repoRoot(), uuid = moduleUUID()) {
  return {
    bundle: path.join(root, "dist", `pepr-${uuid}.js`),
    manifest: path.join(root, "dist", `pepr-module-${uuid}.yaml`),
  };
}
