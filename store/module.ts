// What this package knows about its own Pepr module: its uuid and its capability names.
import { readFileSync } from "node:fs";
import path from "node:path";

/** This package's name (package.json `name`), also the name of its CLI. */
export const PACKAGE_NAME = "hello-pepr-store-resources";

/**
 * The names of the module's capabilities (capabilities/*.ts), used to split store keys exactly.
 * Written out rather than imported so that reading the store does not load Pepr; a unit test
 * checks it against the capabilities `pepr.ts` registers.
 */
export const MODULE_CAPABILITIES: readonly string[] = ["hello-pepr-store-resources"];

/**
 * The module's uuid, `pepr.uuid` in this package's package.json, found by walking up from this
 * file (it runs from `store/` in tests and from `build/store/` once compiled).
 *
 * @returns the uuid
 * @throws Error when no package.json named {@link PACKAGE_NAME} with a `pepr.uuid` is found
 */
export function moduleUUID(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, "package.json");
    let pkg: { name?: unknown; pepr?: { uuid?: unknown } } | undefined;
    try {
      pkg = JSON.parse(readFileSync(file, "utf8"));
    } catch {
      pkg = undefined;
    }
    if (pkg?.name === PACKAGE_NAME) {
      if (typeof pkg.pepr?.uuid !== "string" || pkg.pepr.uuid === "") {
        throw new Error(`${file}: no pepr.uuid`);
      }
      return pkg.pepr.uuid;
    }
    if (path.dirname(dir) === dir) {
      throw new Error(`cannot find the ${PACKAGE_NAME} package.json above ${__dirname}`);
    }
  }
}
