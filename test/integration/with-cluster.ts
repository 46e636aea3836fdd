// Runs a command with the integration tier's control planes up: `node --import tsx
// test/integration/with-cluster.ts <command> [args...]` starts them, sets $HPSR_INTEGRATION_CLUSTER
// (so globalSetup uses it instead of starting one per Jest run), runs the command, stops the
// control planes and exits with the command's code. `npm run test:mutation` runs StrykerJS so.
import { spawn } from "node:child_process";

import { ENV_INTEGRATION_CLUSTER } from "./cluster";
import { startIntegrationCluster } from "./start";

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) {
    process.stderr.write("usage: with-cluster.ts <command> [args...]\n");
    return 2;
  }
  const { cps, stateFile } = await startIntegrationCluster();
  try {
    const child = spawn(argv[0], argv.slice(1), {
      stdio: "inherit",
      env: { ...process.env, [ENV_INTEGRATION_CLUSTER]: stateFile },
    });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    return await new Promise<number>(resolve =>
      child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : 1))),
    );
  } finally {
    await Promise.all(cps.map(cp => cp.stop()));
  }
}

main(process.argv.slice(2)).then(
  code => process.exit(code),
  err => {
    process.stderr.write(`with-cluster: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
