// `npm start`: the module's main job, end to end, as users run it. Starts the local cluster
// (control plane + node), loads the Pepr controller image built here into the node, runs
// `npx pepr deploy --yes`, creates ConfigMap observe, waits for "observed" in the watcher pod's
// logs (`kubectl logs -f`), prints the PeprStore as `kubectl get peprstore -n pepr-system -o yaml`
// shows it, and then streams the watcher pod's log records (info and above) until Ctrl-C, when
// it stops the cluster.
//
// `npm start -- --local`: the fast inner loop (like `pepr dev`): checks the fixed ports first, no
// node, no image, the watcher as a local process. It is also what runs, after one line saying
// why, on a machine where the node cannot run, and with USE_EXISTING_CLUSTER=true (the current
// kubeconfig context and the kubectl on PATH, announcing each change it makes there).
//
// stdout: the `observed` record, the PeprStore YAML, then every further watcher record, one JSON
// line each. stderr: the steps and what to try.
//
// Port 3000 is checked first, with only node:net and the store contract loaded, and only where a
// local-process watcher will listen on it (--local, USE_EXISTING_CLUSTER); the deployed watcher
// has its pod's own network, so by default the host's port 3000 may be in use. The node's ports
// are picked free by cluster/controlplane, so none of them is fixed.
import path from "node:path";

import { OBSERVED_DEADLINE_MS } from "../capabilities/deadlines";
import { assertPortsFree } from "../cluster/ports.cjs";
import { interruptedExitCode, StopRequests, watchStopRequests } from "../cluster/stop-requests";
import {
  FLUSH_INTERVAL_MS,
  scheduleStoreName,
  STORE_NAMESPACE,
  storeName,
} from "../store/contract";

type Cluster = typeof import("../cluster");
type ControlPlane = import("../cluster").ControlPlane;
type ModuleProcess = import("../cluster").ModuleProcess;
type ClusterChanges = import("../cluster").ClusterChanges;

/** The flag for the local-process watcher. */
const LOCAL_FLAG = "--local";
/** pino's "info": the streamed records are this level and above, as `pepr dev` shows them. */
const STREAM_MIN_LEVEL = 30;
/** Steps with the deployed watcher; the local one needs one more (build, then start). */
const DEPLOYED_STEPS = 5;
const OBSERVE = "observe";

/** One line on stderr. */
function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Prints the numbered steps on stderr, each with its duration. */
class Steps {
  /** How many steps there are, for the `[n/total]` prefix. */
  total = DEPLOYED_STEPS;
  #n = 0;
  #started = Date.now();
  readonly begun = Date.now();

  step(what: string): void {
    this.#n += 1;
    this.#started = Date.now();
    process.stderr.write(`\n[${this.#n}/${this.total}] ${what}\n`);
  }

  done(detail = ""): void {
    const took = ((Date.now() - this.#started) / 1000).toFixed(1);
    process.stderr.write(`      done in ${took}s${detail ? `: ${detail}` : ""}\n`);
  }
}

/** Everything the run started, stopped in reverse order. */
interface Started {
  cp?: ControlPlane;
  /** The watcher pod, when deployed; then `mod` follows its logs. */
  pod?: string;
  mod?: ModuleProcess;
  /** `npx pepr deploy`, still waiting for the rollout when `observe` is created. */
  deploying?: Promise<void>;
  changes?: ClusterChanges;
}

/** Stops the watcher, undoes the changes to an existing cluster, stops the control plane. */
async function stopAll(started: Started): Promise<void> {
  const errors: string[] = [];
  for (const [name, stop] of [
    ["watcher", () => started.mod?.stop()],
    ["cluster changes", () => started.changes?.undo()],
    ["control plane", () => started.cp?.stop()],
  ] as const) {
    try {
      await stop();
    } catch (err) {
      const all = err instanceof AggregateError ? err.errors : [err];
      errors.push(...all.map(e => `${name}: ${(e as Error).message}`));
    }
  }
  if (errors.length > 0) throw new Error(`stopping failed:\n${errors.join("\n")}`);
}

/** The first steps: the cluster, then the deployed watcher or (--local) the local one. */
async function startEverything(
  c: Cluster,
  steps: Steps,
  started: Started,
  local: boolean,
  abort: AbortSignal,
): Promise<void> {
  const existing = c.useExisting();
  // what the node needs is installed (as root) or named before the first step, so that the
  // steps are counted right and the one line saying why there is no node comes first
  const blocked = !local && !existing ? c.nodeBlocker(line => say(`host: ${line}`)) : undefined;
  if (blocked) say(`${blocked}: the watcher runs as a local process instead (${LOCAL_FLAG})`);
  const node = !local && !existing && !blocked;
  if (!node) steps.total = DEPLOYED_STEPS + 1;
  steps.step(
    existing
      ? "cluster: the current kubeconfig context and the kubectl on PATH (USE_EXISTING_CLUSTER=true)"
      : !node
        ? "control plane: building (cached after the first build) and starting etcd + kube-apiserver on 127.0.0.1"
        : "cluster: building (cached after the first build) and starting the control plane and a node (containerd, kubelet, kube-proxy) with the Pepr controller image",
  );
  started.cp = await c.startControlPlane({ progress: true, node, controllerImage: node, abort });
  steps.done(started.cp.server);
  // the control plane's own check (CAP_SYS_ADMIN, cgroup write access) can still refuse the node
  const nodeSkipped = started.cp.local?.nodeSkipped;
  if (node && nodeSkipped) {
    say(
      `      no node: ${nodeSkipped}; the watcher runs as a local process instead (${LOCAL_FLAG})`,
    );
    steps.total = DEPLOYED_STEPS + 1;
  }
  if (!node || nodeSkipped) await startLocal(c, steps, started, existing);
  else await startDeployed(c, steps, started, abort);
}

/**
 * Step 2 by default: `npx pepr deploy --yes` (the node has the controller image). The step
 * ends when the watcher serves; `pepr deploy` goes on waiting for the rollout (Pepr's readiness
 * probe starts after 10 s) while `observe` is created, and is awaited in {@link observe}.
 */
async function startDeployed(
  c: Cluster,
  steps: Steps,
  started: Started,
  abort: AbortSignal,
): Promise<void> {
  const cp = started.cp as ControlPlane;
  steps.step(
    "npx pepr deploy --yes (builds the module, applies it, waits for the watcher's rollout)",
  );
  let echo = true;
  const watcher = await c.deployWatcher(cp, {
    mode: "deployed",
    untilServing: true,
    onOutput: line => echo && process.stderr.write(`      | ${line}\n`),
    abort,
  });
  started.deploying = watcher.deploying?.then(() => undefined);
  started.deploying?.catch(() => undefined); // awaited in observe()
  started.pod = watcher.pod as string;
  started.mod = watcher.logs;
  echo = false;
  steps.done(`watcher pod ${STORE_NAMESPACE}/${started.pod} serving (the rollout goes on)`);
}

/** Steps 2 and 3 with --local: npx pepr build, then the watcher as a local process. */
async function startLocal(
  c: Cluster,
  steps: Steps,
  started: Started,
  existing: boolean,
): Promise<void> {
  const cp = started.cp as ControlPlane;
  if (!existing) await assertPortsFree();
  if (existing) {
    started.changes = new c.ClusterChanges(cp, line =>
      process.stderr.write(`      your cluster: ${line}\n`),
    );
  }

  steps.step("module: npx pepr build (skipped when dist/ is up to date)");
  const { bundle } = c.buildModule(true);
  steps.done(bundle);

  steps.step("watcher: PEPR_WATCH_MODE=true node " + bundle.replace(`${c.repoRoot()}/`, ""));
  if (started.changes) {
    await c.prepareCluster(cp, started.changes);
    for (const name of [storeName(), scheduleStoreName()]) {
      await started.changes.expect(c.peprStoreObject(name), "the watcher");
    }
  }
  started.mod = (await c.deployWatcher(cp, { mode: "local", skipPrepare: existing })).logs;
  steps.done(`pid ${started.mod.pid}, "${c.STARTUP_COMPLETE}"`);
}

/** The last three steps: create observe with kubectl, wait for "observed", print the PeprStore. */
async function observe(c: Cluster, steps: Steps, started: Started): Promise<void> {
  const cp = started.cp as ControlPlane;
  const mod = started.mod as ModuleProcess;
  const changes = started.changes;
  const configMap = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: OBSERVE, namespace: c.MODULE_NAMESPACE },
  };
  steps.step(`kubectl create configmap ${OBSERVE} -n ${c.MODULE_NAMESPACE}`);
  const namespace = { apiVersion: "v1", kind: "Namespace", metadata: { name: c.MODULE_NAMESPACE } };
  if (changes) await changes.ensure(namespace);
  else await c.ensureNamespace(cp, c.MODULE_NAMESPACE);
  const why = "the capability reacts to its creation only";
  if (changes) await changes.remove(configMap, `it exists, and ${why}`);
  else if (await c.deleteObject(cp, configMap)) {
    process.stderr.write(
      `      ${OBSERVE} existed from an earlier run: deleted it first (${why})\n`,
    );
  }
  if (changes)
    process.stderr.write(
      `      your cluster: creating ConfigMap ${c.MODULE_NAMESPACE}/${OBSERVE} (removed on exit)\n`,
    );
  const createdAt = Date.now();
  await c.kubectl(cp, ["create", "configmap", OBSERVE, "-n", c.MODULE_NAMESPACE]);
  changes?.willUndo(configMap);
  steps.done();

  steps.step(
    `waiting for the watcher to log "observed" (Pepr flushes Store writes every ${FLUSH_INTERVAL_MS / 1000} s; ` +
      `the capability gives up within ${OBSERVED_DEADLINE_MS / 1000} s)`,
  );
  const observed = await mod.waitForLog(
    `watcher "observed"`,
    r => r.msg === "observed" && r.time >= createdAt,
    OBSERVED_DEADLINE_MS,
  );
  steps.done(`${((observed.time - createdAt) / 1000).toFixed(1)}s after the create`);
  process.stdout.write(`${JSON.stringify(observed)}\n`);

  steps.step(`kubectl get peprstore -n ${STORE_NAMESPACE} ${storeName()} -o yaml`);
  const args = ["get", "peprstore", storeName(), "-n", STORE_NAMESPACE, "-o", "yaml"];
  process.stdout.write(await c.kubectl(cp, args));
  steps.done();
  if (started.deploying) {
    await started.deploying;
    process.stderr.write("      npx pepr deploy finished: the watcher Deployment rolled out\n");
  }
  streamRecords(mod, mod.logs.indexOf(observed) + 1);
}

/** Writes the watcher's records from `from` on, and every later one, to stdout (info and above). */
function streamRecords(mod: ModuleProcess, from: number): void {
  const write = (r: { level: number }): void => {
    if (r.level >= STREAM_MIN_LEVEL) process.stdout.write(`${JSON.stringify(r)}\n`);
  };
  mod.logs.slice(from).forEach(write);
  mod.onLog(write);
}

/** What to try from a second shell, on stderr. */
function printTry(c: Cluster, cp: ControlPlane, steps: Steps, pod?: string): void {
  const ns = `-n ${c.MODULE_NAMESPACE}`;
  const logs = pod ? `  kubectl logs -f -n ${STORE_NAMESPACE} ${pod}\n` : "";
  // the local control plane's kubectl sits next to its binary; on an existing cluster, yours
  const env = cp.local
    ? `  export KUBECONFIG=${cp.kubeconfig} PATH=${path.dirname(cp.kubectl)}:$PATH\n`
    : "";
  process.stderr.write(
    `\nThe module keeps running (${((Date.now() - steps.begun) / 1000).toFixed(1)}s so far); ` +
      `its log records follow on stdout. Try, in another shell:\n${env}` +
      `  kubectl get peprstore -n ${STORE_NAMESPACE} -o yaml\n` +
      `  kubectl delete configmap ${OBSERVE} ${ns} && kubectl create configmap ${OBSERVE} ${ns}\n` +
      logs +
      (pod
        ? "Press Ctrl-C to stop the cluster (its node removes the watcher pod).\n"
        : "Press Ctrl-C to stop the watcher" +
          (cp.local ? " and the control plane.\n" : " and undo the changes to your cluster.\n")),
  );
}

/**
 * Resolves with the exit code once a stop is requested (0), or the watcher or the local cluster
 * ends on its own (1).
 */
function untilStopped(
  mod: ModuleProcess,
  cp: ControlPlane,
  requests: StopRequests,
): Promise<number> {
  // A terminal's Ctrl-C reaches every process of the group, the watcher included, so the
  // watcher dying of a signal is the same request to stop, whichever event arrives first.
  const died = mod.exited.then(async code => {
    if (code === "SIGINT" || code === "SIGTERM" || code === "SIGHUP") return 0;
    if (requests.reason() !== undefined) return 0;
    process.stderr.write(`\nerror: the watcher exited unexpectedly (${code})\n`);
    return 1;
  });
  const clusterEnded = (cp.ended ?? new Promise<string>(() => undefined)).then(why => {
    process.stderr.write(`\nerror: ${why}\n`);
    return 1;
  });
  return Promise.race([died, clusterEnded, requests.requested.then(() => 0)]);
}

/** Every step; resolves false when a stop was requested before they were done. */
async function startUp(
  c: Cluster,
  started: Started,
  requests: StopRequests,
  local: boolean,
): Promise<boolean> {
  const steps = new Steps();
  const abort = new AbortController();
  const startup = (async () => {
    await startEverything(c, steps, started, local, abort.signal);
    await observe(c, steps, started);
    printTry(c, started.cp as ControlPlane, steps, started.pod);
  })();
  const settled = startup.catch(() => undefined); // its failure after a stop request is moot
  const stopped = await Promise.race([
    startup.then(() => false),
    requests.requested.then(() => true),
  ]);
  if (!stopped) return true;
  // a control plane still starting is stopped by its abort, and restores the machine first
  abort.abort();
  if (!started.cp) await settled;
  return false;
}

async function main(): Promise<number> {
  const local = process.argv.includes(LOCAL_FLAG);
  try {
    // only the local-process watcher needs the host's port 3000 (a pod has its own network)
    if (local || process.env.USE_EXISTING_CLUSTER === "true") await assertPortsFree();
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    return 1;
  }
  const requests = watchStopRequests();
  const c: Cluster = await import("../cluster");
  const started: Started = {};
  try {
    const up = await startUp(c, started, requests, local);
    const exitCode = up
      ? await untilStopped(started.mod as ModuleProcess, started.cp as ControlPlane, requests)
      : interruptedExitCode(requests.reason() as string);
    await stopAll(started);
    process.stderr.write("stopped everything this run started\n");
    return exitCode;
  } catch (err) {
    process.stderr.write(`\nerror: ${(err as Error).message}\n`);
    await stopAll(started).catch(e => process.stderr.write(`${(e as Error).message}\n`));
    return err instanceof c.ControlPlaneError && err.exitCode ? err.exitCode : 1;
  } finally {
    requests.dispose();
  }
}

main().then(
  code => process.exit(code),
  err => {
    process.stderr.write(`${err}\n`);
    process.exit(1);
  },
);
