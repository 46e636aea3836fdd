// `npm run cluster -- <command>`: the local cluster as a tool of its own, as kind is. `up` starts
// the control plane and the node (cluster/, the code `npm start` and the tests use), loads the
// Pepr controller image `npx pepr deploy` names, and stays up until asked to stop, which puts the
// machine back; `env` prints what a second shell exports; `load` imports an image; `delete`
// removes the kept cluster; `build` builds everything (and installs what the machine lacks).
import { existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

import type { ControlPlane, ReadyLine } from "../cluster";
import { mountsUnder } from "../cluster/paths";
import { interruptedExitCode, watchStopRequests } from "../cluster/stop-requests";

const USAGE = `usage: npm run cluster -- COMMAND [--data-dir DIR]
  up [--no-node] [--fresh]
      start etcd, kube-apiserver and a node (containerd, kubelet, kube-proxy, scheduler,
      controller-manager), load the Pepr controller image into it, and stay up until Ctrl-C;
      --fresh deletes the kept cluster first
  env
      print the exports that point kubectl and npx pepr at the running cluster:
      eval "$(npm run --silent cluster -- env)"
  load image-archive ARCHIVE [--name REPOSITORY]
      import an OCI image archive into the running node (--name for archives whose index
      names only a tag, as umoci's do)
  delete
      remove the kept cluster (etcd data, certificates, images) when it is not running
  build
      build the control plane, containerd and the controller image (cached), installing the
      Debian packages the node needs when run as root
The cluster is kept in DIR between runs: default $CLUSTER_DATA_DIR, else
~/.cache/hello-pepr-store-resources/cluster.`;

/** Overrides {@link defaultDataDir}. */
const ENV_DATA_DIR = "CLUSTER_DATA_DIR";
/** The running cluster's ready line and kubectl, for `env` and `load`; removed when `up` stops. */
const READY_FILE = "cluster.json";

/** What `up` writes for the other commands: the ready line, kubectl, and the `up` process. */
type RunningCluster = ReadyLine & { kubectl: string; upPid: number };

function defaultDataDir(): string {
  const cache = process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache");
  return process.env[ENV_DATA_DIR] ?? path.join(cache, "hello-pepr-store-resources", "cluster");
}

/** The cluster up in `dataDir`, or undefined when none runs there (a stale file is ignored). */
function runningCluster(dataDir: string): RunningCluster | undefined {
  const file = path.join(dataDir, READY_FILE);
  if (!existsSync(file)) return undefined;
  const ready = JSON.parse(readFileSync(file, "utf8")) as RunningCluster;
  try {
    process.kill(ready.upPid, 0);
    return ready;
  } catch {
    return undefined; // its `up` is gone: a run that was killed
  }
}

/** The lines for a second shell: KUBECONFIG and the cluster's kubectl first on PATH. */
function exportLine(cluster: Pick<RunningCluster, "kubeconfig" | "kubectl">): string {
  return `export KUBECONFIG=${cluster.kubeconfig} PATH=${path.dirname(cluster.kubectl)}:$PATH`;
}

async function up(dataDir: string, node: boolean, fresh: boolean): Promise<number> {
  const running = runningCluster(dataDir);
  if (running) {
    process.stderr.write(
      `a cluster is already up in ${dataDir} (npm run cluster -- up, pid ${running.upPid}, ${running.server}):\n` +
        `  use it from another shell: eval "$(npm run --silent cluster -- env)"\n` +
        `  or stop it: Ctrl-C in its terminal, or kill ${running.upPid}\n`,
    );
    return 1;
  }
  if (fresh && deleteCluster(dataDir) !== 0) return 1;
  const requests = watchStopRequests();
  const c = await import("../cluster");
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const abort = new AbortController();
  void requests.requested.then(() => abort.abort());
  let cp: ControlPlane | undefined;
  try {
    const options = { dataDir, node, controllerImage: node, progress: true, abort: abort.signal };
    cp = await c.startControlPlane(options);
    const readyFile = path.join(dataDir, READY_FILE);
    writeFileSync(
      readyFile,
      JSON.stringify({ ...cp.local, kubectl: cp.kubectl, upPid: process.pid }),
      { mode: 0o600 },
    );
    if (requests.reason() === undefined) printUp(cp);
    const ended = await Promise.race([requests.requested.then(() => undefined), cp.ended]);
    rmSync(readyFile, { force: true });
    if (ended !== undefined) {
      process.stderr.write(`\nerror: ${ended}; kept in ${dataDir}\n`);
      return 1;
    }
    await cp.stop();
    process.stderr.write(`cluster stopped (${requests.reason()}); kept in ${dataDir}\n`);
    return 0;
  } catch (err) {
    await cp?.stop().catch(e => process.stderr.write(`${(e as Error).message}\n`));
    const reason = requests.reason();
    if (reason === undefined) throw err;
    process.stderr.write(`stopped before the cluster was up (${reason}); kept in ${dataDir}\n`);
    return interruptedExitCode(reason);
  } finally {
    requests.dispose();
  }
}

function printUp(cp: ControlPlane): void {
  const ready = cp.local as ReadyLine;
  const nodeLine = ready.node
    ? `node ${ready.node.name} (${ready.node.ip}) Ready after ${ready.node.readySeconds.toFixed(1)}s`
    : `no node: ${ready.nodeSkipped ?? "started with --no-node"}`;
  const image = cp.controllerImage ? `, image ${cp.controllerImage.name} loaded` : "";
  process.stdout.write(
    `\nCluster up: ${cp.server}, ${nodeLine}${image}\n` +
      `In another shell (kubectl v1.36.3 is built with the cluster):\n` +
      `  ${exportLine({ kubeconfig: cp.kubeconfig, kubectl: cp.kubectl })}\n` +
      `  or: eval "$(npm run --silent cluster -- env)"\n` +
      (ready.node ? "  then: npx pepr deploy --yes\n" : "") +
      "Press Ctrl-C to stop it (the machine is put back as it was; the cluster is kept).\n",
  );
}

function env(dataDir: string): number {
  const running = runningCluster(dataDir);
  if (!running) {
    process.stderr.write(`no cluster is up in ${dataDir}: start one with npm run cluster -- up\n`);
    return 1;
  }
  process.stdout.write(`${exportLine(running)}\n`);
  return 0;
}

async function load(dataDir: string, archive: string, name?: string): Promise<number> {
  const running = runningCluster(dataDir);
  if (!running) {
    process.stderr.write(`no cluster is up in ${dataDir}: start one with npm run cluster -- up\n`);
    return 1;
  }
  const c = await import("../cluster");
  process.stdout.write(c.loadImageArchive(c.requireNode(running), path.resolve(archive), name));
  return 0;
}

function deleteCluster(dataDir: string): number {
  const running = runningCluster(dataDir);
  if (running) {
    process.stderr.write(
      `the cluster in ${dataDir} is up (npm run cluster -- up, pid ${running.upPid}): stop it first (Ctrl-C in its terminal, or kill ${running.upPid})\n`,
    );
    return 1;
  }
  if (!existsSync(dataDir)) {
    process.stderr.write(`no cluster kept in ${dataDir}: nothing to delete\n`);
    return 0;
  }
  const mounts = mountsUnder(dataDir);
  if (mounts.length > 0) {
    process.stderr.write(
      `${mounts.length} mounts remain under ${dataDir} from a run that did not stop ` +
        `(${mounts[0]}, ...): npm run cluster -- up cleans them up; then delete again\n`,
    );
    return 1;
  }
  rmSync(dataDir, { recursive: true, force: true });
  process.stderr.write(
    `deleted the cluster kept in ${dataDir} (etcd data, certificates, images)\n`,
  );
  return 0;
}

async function build(): Promise<number> {
  const c = await import("../cluster");
  const say = (line: string): boolean => process.stderr.write(`host: ${line}\n`);
  const missing = c.ensureRequirements(["node", "image", "watcher", "e2e"], say);
  if (missing.length > 0) {
    throw new Error(`this machine cannot build the node: ${c.describeMissing(missing)}`);
  }
  say(`has ${c.installedVersions(c.packagesOf(c.REQUIREMENTS)).join(", ")}`);
  c.buildControlPlane(true);
  c.buildContainerd(true);
  await c.buildControllerImage();
  return 0;
}

const OPTIONS = {
  "data-dir": { type: "string" },
  "no-node": { type: "boolean", default: false },
  fresh: { type: "boolean", default: false },
  name: { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const dataDir = path.resolve(values["data-dir"] ?? defaultDataDir());
  const [command, what, archive] = positionals;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const only = positionals.length === 1;
  if (command === "up" && only) return up(dataDir, !values["no-node"], values.fresh);
  if (command === "env" && only) return env(dataDir);
  if (command === "delete" && only) return deleteCluster(dataDir);
  if (command === "build" && only) return build();
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
