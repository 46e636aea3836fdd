// npm run bench -- --deployed: the module as `npx pepr deploy` runs it, measured in one run on one
// machine: the controller image build cold and warm, `npx pepr deploy` →
// watcher Ready, event → "observed" for the deployed watcher beside the local-process watcher on
// the same cluster (the same Bench steps as `npm run bench`), and the watcher pod's memory from
// its cgroup against its 512Mi limit. Writes bench/deploy-results.json; prints progress on stderr
// and a Markdown table on stdout.
//
// Environment (defaults in brackets):
//   BENCH_RUNS [30]    events per watcher
//   BENCH_OUT [bench/] where deploy-results.json goes
// Both watchers log at debug level (the local one always does; the pod gets LOG_LEVEL=debug
// through `pepr deploy`): the benchmark waits on their debug records, and both pay the same cost.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import {
  AuditTail,
  buildControllerImage,
  ControlPlane,
  DeployResult,
  deployWatcher,
  ensureNamespace,
  followWatcherLogs,
  kubectl,
  loadControllerImage,
  MODULE_NAMESPACE,
  ModuleProcess,
  peprDeploy,
  repoRoot,
  startControlPlane,
  waitFor,
  waitForWatcherPod,
  watcherDeployment,
  watcherPods,
} from "../cluster";
import { STORE_NAMESPACE, storeName } from "../store/contract";
import { peprTimings } from "./pepr";
import { durations } from "./results";
import { Bench, CAPABILITY_DATA, EventRun, STEP_TIMEOUT_MS } from "./event";
import { round, stratifiedPhases, summarize, Summary } from "./stats";
import { intEnv, progress } from "./progress";
import { StoreWatch } from "./storewatch";

const MiB = 1024 * 1024;

const secondsSince = (t: number): number => round((Date.now() - t) / 1000, 2);

/** Image build: cold (empty image cache and empty npm cache) and warm (inputs unchanged). */
async function imageBuilds(): Promise<{
  coldSeconds: number;
  warmSeconds: number;
  archiveMiB: number;
}> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), "hpsr-bench-image-"));
  try {
    const env = {
      CONTROLLER_IMAGE_CACHE_DIR: path.join(tmp, "images"),
      npm_config_cache: path.join(tmp, "npm"),
    };
    let t = Date.now();
    const cold = await buildControllerImage({ env, onProgress: line => progress("image", line) });
    const coldSeconds = secondsSince(t);
    t = Date.now();
    await buildControllerImage({ env, onProgress: line => progress("image", line) });
    return {
      coldSeconds,
      warmSeconds: secondsSince(t),
      archiveMiB: round(cold.archiveBytes / MiB, 1),
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * The watcher container's memory cgroup, read inside it (node is its only tool): cgroup v2's
 * memory.current/peak/max, or on the node's cgroup v1 (hybrid, cgroupfs) memory.usage_in_bytes,
 * max_usage_in_bytes and limit_in_bytes.
 */
async function podMemory(cp: ControlPlane, pod: string) {
  const script = [
    'const fs=require("fs");',
    'const v2="/sys/fs/cgroup/",v1="/sys/fs/cgroup/memory/";',
    'const r=f=>fs.readFileSync(f,"utf8").trim();',
    'const m=fs.existsSync(v2+"memory.current")',
    '?{cgroup:"v2",current:r(v2+"memory.current"),peak:r(v2+"memory.peak"),max:r(v2+"memory.max")}',
    ':{cgroup:"v1",current:r(v1+"memory.usage_in_bytes"),peak:r(v1+"memory.max_usage_in_bytes"),max:r(v1+"memory.limit_in_bytes")};',
    "console.log(JSON.stringify(m))",
  ].join("");
  const out = await kubectl(cp, ["exec", "-n", STORE_NAMESPACE, pod, "--", "node", "-e", script]);
  const m = JSON.parse(out) as Record<string, string>;
  const mib = (v: string) => round(Number(v) / MiB, 1);
  return {
    cgroup: m.cgroup,
    currentMiB: mib(m.current),
    peakMiB: mib(m.peak),
    limitMiB: mib(m.max),
  };
}

/** `runs` events through `mod` with the benchmark's steps; the "observed" latencies in seconds. */
async function latency(
  cp: ControlPlane,
  mod: ModuleProcess,
  watch: StoreWatch,
  audit: AuditTail,
  runs: number,
  label: string,
) {
  const timings = peprTimings();
  const bench = new Bench(cp, mod, watch, audit, timings, storeName());
  const phases = stratifiedPhases(runs, timings.flushIntervalMs);
  const results: EventRun[] = [];
  for (let i = 0; i < runs; i++) {
    const run = await bench.runEvent(phases[i]);
    results.push(run);
    const observed = durations(run).observed;
    progress(
      label,
      `run ${i + 1}/${runs}: ${run.ok ? `observed ${observed?.toFixed(0)} ms${run.fresh ? "" : " (NOT FRESH)"}` : `FAILED: ${run.error}`}`,
    );
  }
  await bench.deleteObserve();
  const ok = results.filter(r => r.ok && r.fresh);
  return {
    failed: results.length - ok.length,
    observedSeconds: summarize(ok.map(r => (durations(r).observed ?? NaN) / 1000)) as Summary,
  };
}

/** Scales the watcher Deployment to 0 and waits until its pods are gone. */
async function scaleDown(cp: ControlPlane): Promise<void> {
  await kubectl(cp, [
    "scale",
    "deployment",
    watcherDeployment(),
    "-n",
    STORE_NAMESPACE,
    "--replicas=0",
  ]);
  await waitFor(
    "no watcher pod left",
    async () => ((await watcherPods(cp)).length === 0 ? true : undefined),
    STEP_TIMEOUT_MS,
  );
}

/** `npm run bench -- --deployed`: see the top of this file. */
export async function benchDeployedVsLocal(): Promise<void> {
  const runs = intEnv("BENCH_RUNS", 30);
  const out = path.resolve(process.env.BENCH_OUT ?? path.join(repoRoot(), "bench"));
  const image = await imageBuilds();
  progress(
    "image",
    `cold ${image.coldSeconds}s, warm ${image.warmSeconds}s, ${image.archiveMiB} MiB`,
  );
  const t = Date.now();
  const cp = await startControlPlane({ node: true, progress: false });
  const clusterSeconds = secondsSince(t);
  const running: { stop(): Promise<void> | void }[] = [];
  try {
    const measured = await deployedAndLocal(cp, runs, clusterSeconds, running);
    const { deployed, local } = measured;
    const results = {
      date: new Date().toISOString(),
      runs,
      image,
      ...measured,
      ratio: {
        median: round(deployed.observedSeconds.median / local.observedSeconds.median, 3),
        p95: round(deployed.observedSeconds.p95 / local.observedSeconds.p95, 3),
      },
    };
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, "deploy-results.json"), `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(table(results));
  } finally {
    for (const r of running.reverse()) await r.stop();
    await cp.stop();
  }
}

/**
 * The deployed watcher's figures (deploy, latency, memory), then the local watcher's latency on
 * the same cluster once the pod is scaled away. What it starts is pushed onto `running`.
 */
async function deployedAndLocal(
  cp: ControlPlane,
  runs: number,
  clusterSeconds: number,
  running: { stop(): Promise<void> | void }[],
) {
  const loaded = await loadControllerImage(cp, { onProgress: () => undefined });
  progress(
    "cluster",
    `up with a node in ${clusterSeconds}s; image imported in ${loaded.loadSeconds.toFixed(1)}s`,
  );
  const env = { LOG_LEVEL: "debug" };
  const watcher = await deployWatcher(cp, { mode: "deployed", env });
  running.push(watcher);
  const first = (await watcher.deploying) as DeployResult;
  const again = await peprDeploy(cp, { env }); // the same command once everything is applied
  const pod = (await waitForWatcherPod(cp)).metadata?.name as string;
  progress("deploy", `first ${first.seconds}s, again (warm) ${again.seconds}s; pod ${pod}`);

  const audit = new AuditTail(cp.local!.auditLog);
  await ensureNamespace(cp, MODULE_NAMESPACE);
  const watch = new StoreWatch(cp.kubeconfig, storeName(), CAPABILITY_DATA);
  await watch.start();
  running.push(watch);
  const podLogs = followWatcherLogs(cp, pod);
  running.push(podLogs);
  const deployed = await latency(cp, podLogs, watch, audit, runs, "deployed");
  const memory = await podMemory(cp, pod).catch(err => ({ error: String(err).slice(0, 300) }));
  progress("memory", JSON.stringify(memory));

  await scaleDown(cp);
  const t = Date.now();
  const localWatcher = (await deployWatcher(cp, { mode: "local", skipPrepare: true })).logs;
  running.push(localWatcher);
  const localStartSeconds = secondsSince(t);
  const local = await latency(cp, localWatcher, watch, audit, runs, "local");
  return {
    cluster: { startSeconds: clusterSeconds, imageImportSeconds: round(loaded.loadSeconds, 2) },
    deploy: { firstSeconds: round(first.seconds, 2), warmSeconds: round(again.seconds, 2) },
    deployed,
    local: { ...local, startSeconds: localStartSeconds },
    memory,
  };
}

function table(r: {
  runs: number;
  image: { coldSeconds: number; warmSeconds: number; archiveMiB: number };
  deploy: { firstSeconds: number; warmSeconds: number };
  deployed: { observedSeconds: Summary; failed: number };
  local: { observedSeconds: Summary; failed: number };
  ratio: { median: number; p95: number };
  memory: { currentMiB?: number; peakMiB?: number; limitMiB?: number; error?: string };
}): string {
  const s = (x: Summary) => `${x.median.toFixed(3)} s / ${x.p95.toFixed(3)} s (n=${x.n})`;
  return [
    "| figure | value |",
    "| --- | --- |",
    `| controller image build, cold (empty npm and image caches) / warm (inputs unchanged) | ${r.image.coldSeconds} s / ${r.image.warmSeconds} s |`,
    `| controller image archive | ${r.image.archiveMiB} MiB |`,
    `| \`npx pepr deploy --yes\` → watcher Ready, first / again (warm) | ${r.deploy.firstSeconds} s / ${r.deploy.warmSeconds} s |`,
    `| observe created → "observed", deployed watcher, median / p95 | ${s(r.deployed.observedSeconds)} |`,
    `| observe created → "observed", local-process watcher, median / p95 | ${s(r.local.observedSeconds)} |`,
    `| deployed / local, median / p95 | ${r.ratio.median} / ${r.ratio.p95} |`,
    `| watcher pod memory (cgroup) after the runs, current / peak / limit | ${r.memory.error ?? `${r.memory.currentMiB} / ${r.memory.peakMiB} / ${r.memory.limitMiB} MiB`} |`,
    `| failed or not fresh events, deployed / local | ${r.deployed.failed} / ${r.local.failed} |`,
    "",
  ].join("\n");
}
