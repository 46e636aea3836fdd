#!/usr/bin/env node
// The package's bin. The CLI is TypeScript (store/cli.ts) compiled to build/store/ by
// `npm run build:store`, which `npm ci` and `npm install` run through the `prepare` script.
const { existsSync } = require("node:fs");
const path = require("node:path");

const cli = path.join(__dirname, "..", "build", "store", "cli.js");
if (!existsSync(cli)) {
  process.stderr.write(
    `hello-pepr-store-resources: ${cli} does not exist: run \`npm run build:store\` (npm ci runs it)\n`,
  );
  process.exit(1);
}
require(cli)
  .run()
  .catch(err => {
    process.stderr.write(`hello-pepr-store-resources: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  });
