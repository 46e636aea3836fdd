// Jest transform for the ES-module-only packages under pepr (kubernetes-fluent-client,
// @kubernetes/client-node and their ESM dependencies). Pepr's own dist is CommonJS and
// require()s them; Node 20 does that natively, but Jest's module loader only learns
// require(esm) on Node 24.9+, so on Node 20 those files are rewritten to CommonJS here.
// esbuild (a peer dependency of pepr, used by `pepr build`) does this in about a millisecond
// per file, so a cold run stays fast even though @kubernetes/client-node has ~1000 files.
const { createHash } = require("node:crypto");
const { transformSync, version } = require("esbuild");

/** @type {import("@jest/transform").SyncTransformer} */
module.exports = {
  getCacheKey(sourceText, sourcePath) {
    return createHash("sha256")
      .update(`esbuild ${version} cjs node20\0${sourcePath}\0${sourceText}`)
      .digest("hex");
  },
  process(sourceText, sourcePath) {
    const { code, map } = transformSync(sourceText, {
      format: "cjs",
      loader: "js",
      platform: "node",
      target: "node20",
      sourcefile: sourcePath,
      sourcemap: "external",
    });
    return { code, map };
  },
};
