// `npm start`: the module's main job, end to end, as users run it. Starts the local cluster
// (control plane + node), loads the Pepr controller image built here into the node, runs
// `npx pepr deploy --yes`, creates ConfigMap observe, waits for "observed" in the watcher pod's
// logs, prints the PeprStore as `kubectl get peprstore -n pepr-system -o yaml` shows it, then
// streams the watcher pod's logs until Ctrl-C and stops everything it started.
//
// `npm start -- --local`: the fast inner loop (like `pepr dev`): no node, no image, the watcher
// as a local Node process. It is also what runs, after one line saying why, on a machine where
// the node cannot run. USE_EXISTING_CLUSTER=true uses the current kubeconfig context instead of
// starting a cluster (then the cluster pulls the image itself).
import {
  buildModule,
  ControlPlane,
  ControlPlaneError,
  ensureNamespace,
  ENV_USE_EXISTING_CLUSTER,
  followWatcherLogs,
  kubectl,
  kubectlRun,
  loadControllerImage,
  MODULE_NAMESPACE,
  ModuleProcess,
  peprDeploy,
  startControlPlane,
  startModule,
  waitForWatcherPod,
} from "../cluster";
import { STORE_NAMESPACE, storeName } from "../store/contract";

/** Deadline for "observed" after observe is created: 4 s flush + 1 s debounce, and slack. */
const OBSERVED_TIMEOUT_MS = 30_000;
/** The flag for the local-process watcher. */
const LOCAL_FLAG = "--local";
const STEPS = 6;
const started = Date.now();
let stepStarted = Date.now();
let stepNo = 0;

function step(what: string): void {
  stepNo += 1;
  stepStarted = Date.now();
  process.stderr.write(`\n[${stepNo}/${STEPS}] ${what}\n`);
}

function done(detail = ""): void {
  const took = ((Date.now() - stepStarted) / 1000).toFixed(1);
  process.stderr.write(`      done in ${took}s${detail ? `: ${detail}` : ""}\n`);
}

/** What runs until Ctrl-C: the local watcher, or `kubectl logs -f` of the watcher pod. */
interface Running {
  /** Log records of the watcher from its start (for "observed"). */
  logs: ModuleProcess;
  /** Starts streaming the watcher's new log lines to stderr; returns what then runs. */
  stream(): ModuleProcess;
  /** Said when the module keeps running. */
  hint: string;
}

/** Steps 2-3 in --local mode: npx pepr build, then the watcher as a local process. */
async function startLocal(cp: ControlPlane): Promise<Running> {
  step("module: npx pepr build (skipped when dist/ is up to date)");
  const { bundle } = buildModule(true);
  done(bundle);
  step("watcher: PEPR_WATCH_MODE=true node " + bundle.replace(`${process.cwd()}/`, ""));
  const mod = await startModule(cp);
  done(`pid ${mod.pid}, "Controller startup complete"`);
  return { logs: mod, stream: () => mod, hint: "Press Ctrl-C to stop the watcher" };
}

/** Steps 2-3 by default: the controller image into the node, then `npx pepr deploy --yes`. */
async function startDeployed(cp: ControlPlane, existing: boolean): Promise<Running> {
  if (existing) {
    step("image: not loaded (USE_EXISTING_CLUSTER=true: your cluster pulls it)");
  } else {
    step("image: building the Pepr controller image and loading it into the node");
    const image = await loadControllerImage(cp, {
      onProgress: line => process.stderr.write(`      ${line}\n`),
    });
    done(`${image.name} (ctr images import ${image.loadSeconds.toFixed(1)}s)`);
  }
  step("npx pepr deploy --yes (builds the module, applies it, waits for the watcher's rollout)");
  await peprDeploy(cp, { onOutput: line => process.stderr.write(`      | ${line}\n`) });
  const pod = (await waitForWatcherPod(cp)).metadata?.name as string;
  done(`watcher pod ${STORE_NAMESPACE}/${pod} Ready`);
  return {
    logs: followWatcherLogs(cp, pod),
    stream: () => followWatcherLogs(cp, pod, { echo: true, tail: 0 }),
    hint: `  kubectl logs -f -n ${STORE_NAMESPACE} ${pod}\nThe watcher pod's new log lines follow. Press Ctrl-C to stop`,
  };
}

/** Steps 4-6: create observe, wait for "observed", print the PeprStore. */
async function observe(cp: ControlPlane, logs: ModuleProcess): Promise<void> {
  step(`kubectl create configmap observe -n ${MODULE_NAMESPACE}`);
  await ensureNamespace(cp, MODULE_NAMESPACE);
  const exists = await kubectlRun(cp, ["get", "configmap", "observe", "-n", MODULE_NAMESPACE]);
  if (exists.code === 0) {
    process.stderr.write("      observe exists from an earlier run: deleting it first\n");
    await kubectl(cp, ["delete", "configmap", "observe", "-n", MODULE_NAMESPACE]);
  }
  const createdAt = Date.now();
  await kubectl(cp, ["create", "configmap", "observe", "-n", MODULE_NAMESPACE]);
  done();

  step(`waiting for the watcher to log "observed" (Pepr flushes every 4 s)`);
  const observed = await logs.waitForLog(
    `watcher "observed"`,
    r => r.msg === "observed" && r.time >= createdAt,
    OBSERVED_TIMEOUT_MS,
  );
  done(`${((observed.time - createdAt) / 1000).toFixed(1)}s after the create`);
  process.stdout.write(`${JSON.stringify(observed)}\n`);

  step(`kubectl get peprstore -n ${STORE_NAMESPACE} ${storeName()} -o yaml`);
  process.stdout.write(
    await kubectl(cp, ["get", "peprstore", storeName(), "-n", STORE_NAMESPACE, "-o", "yaml"]),
  );
  done();
}

/** Resolves with the exit code once Ctrl-C (or SIGTERM) arrives or `running` exits by itself. */
function untilStopped(running: ModuleProcess): Promise<number> {
  return new Promise<number>(resolve => {
    // A terminal's Ctrl-C reaches every process of the group (the watcher or kubectl included),
    // so its dying of SIGINT is the same request to stop, whichever event arrives first.
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`\n${signal}: stopping... (Ctrl-C again exits at once)\n`);
      resolve(0);
    };
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals += 1;
      if (signals === 1) return stop(signal);
      // The control plane runs in its own process group and stops itself when we are gone.
      process.stderr.write(`${signal} again: exiting without waiting\n`);
      process.exit(130);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    void running.exited.then(code => {
      if (code === "SIGINT" || code === "SIGTERM") return stop(code);
      if (stopping) return;
      process.stderr.write(
        `\nerror: the watcher (or its log stream) exited unexpectedly (${code})\n`,
      );
      resolve(1);
    });
  });
}

/** Starts the cluster (with a node unless --local) and says when it falls back to --local. */
async function startCluster(local: boolean, existing: boolean): Promise<ControlPlane> {
  step(
    existing
      ? "cluster: using the current kubeconfig context (USE_EXISTING_CLUSTER=true)"
      : local
        ? "control plane: building and starting etcd + kube-apiserver on 127.0.0.1 (first build: several minutes)"
        : "cluster: building and starting the control plane and a node (containerd, kubelet, kube-proxy; first build: several minutes)",
  );
  const cp = await startControlPlane({ progress: true, node: !local && !existing });
  done(cp.server);
  return cp;
}

async function main(): Promise<number> {
  let cp: ControlPlane | undefined;
  const running: ModuleProcess[] = [];
  const stopAll = async (): Promise<void> => {
    const errors: string[] = [];
    const stops = [...running.map(r => ["watcher", () => r.stop()] as const)];
    for (const [name, stop] of [...stops, ["cluster", () => cp?.stop()] as const]) {
      try {
        await stop();
      } catch (err) {
        errors.push(`${name}: ${(err as Error).message}`);
      }
    }
    if (errors.length > 0) throw new Error(`stopping failed:\n${errors.join("\n")}`);
  };

  try {
    const existing = process.env[ENV_USE_EXISTING_CLUSTER] === "true";
    let local = process.argv.includes(LOCAL_FLAG);
    cp = await startCluster(local, existing);
    if (!local && !existing && cp.local?.nodeSkipped) {
      process.stderr.write(
        `      no node on this machine (${cp.local.nodeSkipped}): the watcher runs as a local process instead, as with npm start -- ${LOCAL_FLAG}\n`,
      );
      local = true;
    }
    const watcher = local ? await startLocal(cp) : await startDeployed(cp, existing);
    running.push(watcher.logs);
    await observe(cp, watcher.logs);

    process.stderr.write(
      `\nThe module keeps running (${((Date.now() - started) / 1000).toFixed(1)}s so far). Try, in another shell:\n` +
        `  export KUBECONFIG=${cp.kubeconfig}\n` +
        `  ${cp.kubectl} get peprstore -n ${STORE_NAMESPACE} -o yaml\n` +
        `${watcher.hint}` +
        (existing ? ".\n" : local ? " and the control plane.\n" : " and the cluster.\n"),
    );
    const stream = watcher.stream();
    if (stream !== watcher.logs) {
      await watcher.logs.stop();
      running.push(stream);
    }
    const exitCode = await untilStopped(stream);
    await stopAll();
    process.stderr.write("stopped everything this run started\n");
    return exitCode;
  } catch (err) {
    process.stderr.write(`\nerror: ${(err as Error).message}\n`);
    await stopAll().catch(e => process.stderr.write(`${(e as Error).message}\n`));
    return err instanceof ControlPlaneError && err.exitCode ? err.exitCode : 1;
  }
}

main().then(
  code => process.exit(code),
  err => {
    process.stderr.write(`${err}\n`);
    process.exit(1);
  },
);
