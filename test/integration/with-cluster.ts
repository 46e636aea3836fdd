// Runs a command with the integration tier's control plane up: `node --import tsx
// test/integration/with-cluster.ts <command> [args...]` starts it, sets $HPSR_SHARED_CLUSTER
// (so globalSetup uses it instead of starting one per Jest run), runs the command, stops the
// control plane and exits with the command's code. `npm run test:mutation` runs StrykerJS so.
import { spawn } from "node:child_process";

import { startSharedCluster } from "../shared-cluster/start";
import { ENV_SHARED_CLUSTER } from "../shared-cluster/state";

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) {
    process.stderr.write("usage: with-cluster.ts <command> [args...]\n");
    return 2;
  }
  const { cp, stateFile } = await startSharedCluster();
  try {
    const child = spawn(argv[0], argv.slice(1), {
      stdio: "inherit",
      env: { ...process.env, [ENV_SHARED_CLUSTER]: stateFile },
    });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    return await new Promise<number>(resolve =>
      child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : 1))),
    );
  } finally {
    await cp.stop();
  }
}

main(process.argv.slice(2)).then(
  code => process.exit(code),
  err => {
    process.stderr.write(`with-cluster: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
