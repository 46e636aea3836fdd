// Where things are: the repository root and the files a build produces.
import { accessSync, constants, readFileSync } from "node:fs";
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

/** The first executable `name` in $PATH, or `undefined`. */
export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir === "") continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Mount points at or under `dir` (a node run that was killed can leave some). */
export function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map(line => line.split(" ")[4] ?? "")
    .filter(point => point === dir || point.startsWith(`${dir}/`));
}
