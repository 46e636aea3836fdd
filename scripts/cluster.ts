// `npm run cluster -- up`: the local cluster as a tool of its own, as `kind create cluster` is.
// It starts the control plane and the node (cluster/, the code `npm start` and the tests use),
// prints the KUBECONFIG to export and the kubectl to use, and stays up until Ctrl-C, which stops
// everything and puts the machine back. `npm run cluster -- load image-archive <tar>` imports an
// OCI image archive into the running node, as `kind load image-archive` does.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

import {
  ControlPlane,
  loadImageArchive,
  ReadyLine,
  requireNode,
  startControlPlane,
} from "../cluster";

const USAGE = `usage:
  npm run cluster -- up [--data-dir DIR] [--no-node]
      start etcd, kube-apiserver and a node (containerd, kubelet, kube-proxy, scheduler,
      controller-manager); stays up until Ctrl-C
  npm run cluster -- load image-archive ARCHIVE [--name REPOSITORY] [--data-dir DIR]
      import an OCI image archive into the running node (--name for archives whose index
      names only a tag, as umoci's do)`;

/** Where `up` keeps the cluster (etcd, certificates, images) between runs, like kind's node. */
const DEFAULT_DATA_DIR = path.join(
  process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"),
  "hello-pepr-store-resources",
  "cluster",
);
/** The running cluster's ready line, for `load`; removed when `up` stops. */
const READY_FILE = "cluster.json";

async function up(dataDir: string, node: boolean): Promise<number> {
  mkdirSync(dataDir, { recursive: true });
  const cp: ControlPlane = await startControlPlane({ dataDir, node, progress: true });
  const ready = cp.local as ReadyLine;
  const readyFile = path.join(dataDir, READY_FILE);
  writeFileSync(readyFile, JSON.stringify(ready), { mode: 0o600 });
  const nodeLine = ready.node
    ? `node ${ready.node.name} (${ready.node.ip}) Ready after ${ready.node.readySeconds.toFixed(1)}s`
    : `no node: ${ready.nodeSkipped ?? "started with --no-node"}`;
  process.stdout.write(
    `\nCluster up: ${cp.server}, ${nodeLine}\n` +
      `  export KUBECONFIG=${cp.kubeconfig}\n` +
      `  alias kubectl=${cp.kubectl}     # kubectl v1.36.3, built with the cluster\n` +
      (ready.node ? "  npm run cluster -- load image-archive IMAGE.tar --name REPOSITORY\n" : "") +
      "Press Ctrl-C to stop it (the machine is put back as it was).\n",
  );
  await new Promise<void>(resolve => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals += 1;
      if (signals > 1) process.exit(130); // the cluster stops itself once we are gone
      process.stderr.write(`\n${signal}: stopping the cluster... (again exits at once)\n`);
      resolve();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
  rmSync(readyFile, { force: true });
  await cp.stop();
  process.stderr.write("cluster stopped\n");
  return 0;
}

function load(dataDir: string, archive: string, name?: string): number {
  const readyFile = path.join(dataDir, READY_FILE);
  if (!existsSync(readyFile)) {
    process.stderr.write(
      `no running cluster in ${dataDir}: start one with npm run cluster -- up\n`,
    );
    return 1;
  }
  const node = requireNode(JSON.parse(readFileSync(readyFile, "utf8")) as ReadyLine);
  process.stdout.write(loadImageArchive(node, path.resolve(archive), name));
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      "data-dir": { type: "string", default: DEFAULT_DATA_DIR },
      "no-node": { type: "boolean", default: false },
      name: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const dataDir = path.resolve(values["data-dir"]);
  const [command, what, archive] = positionals;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command === "up" && positionals.length === 1) return up(dataDir, !values["no-node"]);
  if (command === "load" && what === "image-archive" && archive && positionals.length === 3) {
    return load(dataDir, archive, values.name);
  }
  process.stderr.write(`${USAGE}\n`);
  return 2;
}

main(process.argv.slice(2)).then(
  code => process.exit(code),
  (err: Error) => {
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(1);
  },
);
