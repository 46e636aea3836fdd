// `npm start`: the module's main job, end to end. Starts the bundled local control plane (or, with
// USE_EXISTING_CLUSTER=true, uses the current kubeconfig context), runs the Pepr watcher as a local
// process, creates ConfigMap observe, waits for "observed", prints the PeprStore as
// `kubectl get peprstore -n pepr-system -o yaml` shows it, and keeps the module running until
// Ctrl-C, then stops everything it started.
import {
  buildModule,
  ControlPlane,
  ControlPlaneError,
  ensureNamespace,
  ENV_USE_EXISTING_CLUSTER,
  kubectl,
  kubectlRun,
  MODULE_NAMESPACE,
  ModuleProcess,
  startControlPlane,
  startModule,
} from "../cluster";
import { OBSERVED_DEADLINE_MS } from "../capabilities/deadlines";
import { FLUSH_INTERVAL_MS, STORE_NAMESPACE, storeName } from "../store/contract";

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

async function main(): Promise<number> {
  let cp: ControlPlane | undefined;
  let mod: ModuleProcess | undefined;
  const stopAll = async (): Promise<void> => {
    const errors: string[] = [];
    for (const [name, stop] of [
      ["watcher", () => mod?.stop()],
      ["control plane", () => cp?.stop()],
    ] as const) {
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
    step(
      existing
        ? "cluster: using the current kubeconfig context (USE_EXISTING_CLUSTER=true)"
        : "control plane: building and starting etcd + kube-apiserver on 127.0.0.1 (first build: several minutes)",
    );
    cp = await startControlPlane({ progress: true });
    done(cp.server);

    step("module: npx pepr build (skipped when dist/ is up to date)");
    const { bundle } = buildModule(true);
    done(bundle);

    step("watcher: PEPR_WATCH_MODE=true node " + bundle.replace(`${process.cwd()}/`, ""));
    mod = await startModule(cp);
    done(`pid ${mod.pid}, "Controller startup complete"`);

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

    step(
      `waiting for the watcher to log "observed" (Pepr flushes every ${FLUSH_INTERVAL_MS / 1000} s; ` +
        `gives up after ${OBSERVED_DEADLINE_MS / 1000} s)`,
    );
    const observed = await mod.waitForLog(
      `watcher "observed"`,
      r => r.msg === "observed" && r.time >= createdAt,
      OBSERVED_DEADLINE_MS,
    );
    done(`${((observed.time - createdAt) / 1000).toFixed(1)}s after the create`);
    process.stdout.write(`${JSON.stringify(observed)}\n`);

    step(`kubectl get peprstore -n ${STORE_NAMESPACE} ${storeName()} -o yaml`);
    process.stdout.write(
      await kubectl(cp, ["get", "peprstore", storeName(), "-n", STORE_NAMESPACE, "-o", "yaml"]),
    );
    done();

    process.stderr.write(
      `\nThe module keeps running (${((Date.now() - started) / 1000).toFixed(1)}s so far). Try, in another shell:\n` +
        `  export KUBECONFIG=${cp.kubeconfig}\n` +
        `  ${cp.kubectl} get peprstore -n ${STORE_NAMESPACE} -o yaml\n` +
        "Press Ctrl-C to stop the watcher" +
        (existing ? ".\n" : " and the control plane.\n"),
    );

    const exitCode = await new Promise<number>(resolve => {
      // A terminal's Ctrl-C reaches every process of the group, the watcher included, so the
      // watcher dying of SIGINT is the same request to stop, whichever event arrives first.
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
      void mod?.exited.then(code => {
        if (code === "SIGINT" || code === "SIGTERM") return stop(code);
        if (stopping) return;
        process.stderr.write(`\nerror: the watcher exited unexpectedly (${code})\n`);
        resolve(1);
      });
    });
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
