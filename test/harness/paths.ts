// Where things are: the repository root and the files a build produces.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

const PACKAGE_NAME = "hello-pepr-store-resources";

/** The repository root: the nearest folder above the working directory holding our package.json. */
export function repoRoot(from = process.cwd()): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, "package.json");
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, "utf8")).name === PACKAGE_NAME) return dir;
    if (path.dirname(dir) === dir) {
      throw new Error(`cannot find the ${PACKAGE_NAME} package.json above ${from}`);
    }
  }
}

/** The module's uuid, from package.json `pepr.uuid`. */
export function moduleUUID(root = repoRoot()): string {
  return JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).pepr.uuid;
}

/** Name of the PeprStore CR Pepr 1.1.4 writes for this module (src/lib/controller/index.ts). */
export function storeName(uuid = moduleUUID()): string {
  return `pepr-${uuid}-store`;
}

/** Files that `npx pepr build` writes into dist/. */
export function buildOutputs(root = repoRoot(), uuid = moduleUUID(root)) {
  return {
    bundle: path.join(root, "dist", `pepr-${uuid}.js`),
    manifest: path.join(root, "dist", `pepr-module-${uuid}.yaml`),
  };
}
