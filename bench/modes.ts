// The other measurements of `npm run bench`, one flag each (see run.ts); each writes its results
// and prints a Markdown table.
// --deployed: the module as `npx pepr deploy` runs it, on a cluster with a node: the deploy to a
//   Ready watcher, then event → "observed" for the deployed watcher and for the local-process
//   watcher on the same cluster (the same events as `npm run bench`). Both log at debug level (the
//   benchmark waits on their debug records), so both pay the same for it.
// --npm-start: a warm `npm start`, as a user runs it, from the command to the printed PeprStore,
//   by phase. Each run is spawned in a process group of its own, its output timed line by line,
//   and stopped with Ctrl-C once the store is printed; a first run warms the caches (the builds
//   and the image) and is not counted.
import { spawn } from "node:child_process";
import readline from "node:readline";

import * as cluster from "../cluster";
import { STORE_NAMESPACE } from "../store/contract";
import { Bench, durations, STEP_TIMEOUT_MS } from "./event";
import { intEnv, progress, round, summarize, table, writeOutput } from "./shared";

/** BENCH_RUNS events through `bench`; the fresh ones' created → "observed" in seconds. */
async function latency(bench: Bench, label: string) {
  const runs = intEnv("BENCH_RUNS", 30);
  const results = await bench.runEvents(runs, (i, run) => {
    const ms = durations(run).observed;
    progress(label, `run ${i}/${runs}: ${run.ok ? `observed ${ms} ms` : run.error}`);
  });
  await bench.deleteObserve();
  const fresh = results.filter(r => r.ok && r.fresh).map(r => durations(r).observed ?? NaN);
  const observedSeconds = summarize(
    fresh.map(ms => ms / 1000),
    3,
  );
  if (!observedSeconds) throw new Error(`${label}: no fresh event`);
  return { failed: runs - fresh.length, observedSeconds };
}

/** Scales the watcher Deployment to 0 and waits until its pods are gone. */
async function scaleDown(cp: cluster.ControlPlane): Promise<void> {
  const deployment = cluster.watcherDeployment();
  const header = { name: deployment, namespace: STORE_NAMESPACE };
  await cluster.mergePatchObject(
    cp,
    { apiVersion: "apps/v1", kind: "Deployment", metadata: header },
    { spec: { replicas: 0 } },
  );
  const gone = async () => (await cluster.watcherPods(cp)).length === 0 || undefined;
  await cluster.waitFor("no watcher pod left", gone, STEP_TIMEOUT_MS);
}

/**
 * The deployed watcher's latency, then the local watcher's on the same cluster once the pod is
 * scaled away. What it starts goes into `live`.
 */
async function deployedAndLocal(cp: cluster.ControlPlane, live: { stop(): unknown }[]) {
  const env = { LOG_LEVEL: "debug" };
  const deployed = await cluster.deployWatcher(cp, { mode: "deployed", env });
  live.push(deployed);
  const { seconds } = (await deployed.deploying) as cluster.DeployResult;
  progress("deploy", `${seconds}s to a Ready watcher, pod ${deployed.pod}`);
  const audit = new cluster.AuditTail(cp.local?.auditLog as string);
  await cluster.ensureNamespace(cp, cluster.MODULE_NAMESPACE);
  const deployedLatency = await latency(new Bench(cp, deployed.logs, audit), "deployed");
  progress("local", "scaling the watcher pod away, starting the local watcher");
  await scaleDown(cp);
  const local = await cluster.deployWatcher(cp, { mode: "local", skipPrepare: true });
  live.push(local);
  const localLatency = await latency(new Bench(cp, local.logs, audit), "local");
  return { deploySeconds: round(seconds, 2), deployed: deployedLatency, local: localLatency };
}

/** `npm run bench -- --deployed`: see the top of this file. */
export async function benchDeployed(): Promise<void> {
  progress("cluster", "starting the control plane with a node, then `npx pepr deploy`");
  const cp = await cluster.startControlPlane({ node: true, progress: false });
  const live: { stop(): unknown }[] = [];
  try {
    const m = await deployedAndLocal(cp, live);
    const [d, l] = [m.deployed.observedSeconds, m.local.observedSeconds];
    const ratio = { median: round(d.median / l.median, 3), p95: round(d.p95 / l.p95, 3) };
    const results = { date: new Date().toISOString(), runs: intEnv("BENCH_RUNS", 30), ...m, ratio };
    await writeOutput("deploy-results.json", JSON.stringify(results, null, 2));
    const s = (x: typeof d) => `${x.median.toFixed(3)} s / ${x.p95.toFixed(3)} s (n=${x.n})`;
    const rows = [
      `\`npx pepr deploy --yes\` → watcher Ready | ${m.deploySeconds} s`,
      `observe created → "observed", deployed watcher, median / p95 | ${s(d)}`,
      `observe created → "observed", local-process watcher, median / p95 | ${s(l)}`,
      `deployed / local, median / p95 | ${ratio.median} / ${ratio.p95}`,
      `failed or not fresh events, deployed / local | ${m.deployed.failed} / ${m.local.failed}`,
    ];
    process.stdout.write(`${table("figure | value", rows)}\n`);
  } finally {
    for (const running of live.reverse()) await running.stop();
    await cp.stop();
  }
}

/** The phases of one `npm start` in the order they happen, each ended by a line it prints. */
const PHASES = [
  ["npm and tsx start", /^\[1\/\d\] /],
  ["cluster up (builds cached, controller image imported)", /^\[2\/\d\] /],
  ["pepr build (type check, format check, bundle)", /Establishing connection to Kubernetes/],
  ["pepr deploy applies the module", /Checking pepr-system deployments status/],
  ["watcher pod scheduled, started, serving", /^\[3\/\d\] /],
  ['kubectl create cm observe, then "observed"', /^\[5\/\d\] /],
  ["kubectl get peprstore printed", /^kind: PeprStore$/],
] as const;

/** One `npm start`: the seconds each phase took, then its Ctrl-C. */
async function npmStart(): Promise<number[]> {
  const started = Date.now();
  const env = { ...process.env, NO_COLOR: "1" };
  const options = { cwd: cluster.repoRoot(), env, detached: true };
  const child = spawn("npm", ["start"], { ...options, stdio: ["ignore", "pipe", "pipe"] });
  const ends: number[] = [];
  await new Promise<void>((resolve, reject) => {
    const onLine = (line: string): void => {
      if (PHASES[ends.length]?.[1].test(line.replace(/^ *\| /, ""))) ends.push(Date.now());
      if (ends.length === PHASES.length) resolve();
    };
    readline.createInterface({ input: child.stdout }).on("line", onLine);
    readline.createInterface({ input: child.stderr }).on("line", onLine);
    child.on("close", code =>
      reject(new Error(`npm start exited ${code} after ${ends.length} phases`)),
    );
  });
  process.kill(-(child.pid as number), "SIGINT");
  await new Promise(resolve => child.on("close", resolve));
  return ends.map((end, i) => round((end - (ends[i - 1] ?? started)) / 1000, 2));
}

/** `npm run bench -- --npm-start`: see the top of this file. */
export async function benchNpmStart(): Promise<void> {
  const runs = intEnv("BENCH_START_RUNS", 3);
  progress("npm start", "warm-up run (builds and image cached)...");
  await npmStart();
  const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
  const [measured, totals] = [[] as number[][], [] as number[]];
  for (let i = 1; i <= runs; i++) {
    measured.push(await npmStart());
    totals.push(round(sum(measured[i - 1]), 2));
    progress("npm start", `run ${i}/${runs}: ${totals[i - 1]} s to the printed store`);
  }
  const median = (values: number[]) => summarize(values, 2)?.median ?? NaN;
  const medianTotal = median(totals);
  const phases = PHASES.map(([name], i) => {
    const each = measured.map(p => p[i]);
    return { name, median: median(each), each };
  });
  await writeOutput("start-results.json", JSON.stringify({ phases, totals, medianTotal }, null, 2));
  const share = (s: number) => `${Math.round((100 * s) / medianTotal)} %`;
  const rows = phases.map(
    p => `${p.name} | ${p.median} | ${share(p.median)} | ${p.each.join(", ")}`,
  );
  rows.push(`**command to printed store** | ${medianTotal} | | ${totals.join(", ")}`);
  const head = "warm `npm start`, phase | median s | share | each run s";
  process.stdout.write(`${table(head, rows)}\n`);
}
