// Runs a command with the integration tier's control planes up (the shared one and the fault tests'): `node --import tsx
// test/integration/with-cluster.ts <command> [args...]` starts it, sets $HPSR_SHARED_CLUSTER
// (so globalSetup uses it instead of starting one per Jest run), runs the command, stops the
// control plane and exits with the command's code. `npm run test:mutation` runs StrykerJS so.
import { spawn } from "node:child_process";

import { startSharedCluster } from "../shared-cluster/start-shared-cluster";
import { ENV_SHARED_CLUSTER } from "../shared-cluster/state";
import { ENV_FAULT_CLUSTER } from "./cluster";
import { startFaultCluster } from "./start-fault-cluster";

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) {
    process.stderr.write("usage: with-cluster.ts <command> [args...]\n");
    return 2;
  }
  const [shared, faults] = await Promise.allSettled([startSharedCluster(), startFaultCluster()]);
  const cps = [shared, faults].flatMap(s =>
    s.status === "fulfilled" && s.value ? [s.value.cp] : [],
  );
  try {
    if (shared.status === "rejected") throw shared.reason;
    if (faults.status === "rejected") throw faults.reason;
    const { stateFile } = shared.value;
    const child = spawn(argv[0], argv.slice(1), {
      stdio: "inherit",
      env: {
        ...process.env,
        [ENV_SHARED_CLUSTER]: stateFile,
        ...(faults.value ? { [ENV_FAULT_CLUSTER]: faults.value.stateFile } : {}),
      },
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
