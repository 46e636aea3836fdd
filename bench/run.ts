// npm run bench: how long until a Pepr Store write is in the PeprStore CR, how many API calls it
// costs, what the watcher costs, and how far one PeprStore scales, on the local control plane.
// Writes results.json, REPORT.md, latency.svg and scale.svg, prints progress on stderr and,
// last on stdout: `median_s p95_s ratio_to_bound patches_per_event`.
//   -- --report     re-renders REPORT.md and the charts from results.json, measuring nothing
//   -- --deployed   the deployed watcher beside the local one (./modes.ts)
//   -- --npm-start  a warm `npm start` to the printed store, by phase (./modes.ts)
//
// Environment (defaults in brackets):
//   BENCH_RUNS [30]                       events for the latency figures (--deployed: per watcher)
//   BENCH_SCALE [10,100,1000,10000,50000]  prefill sizes, keys
//   BENCH_SCALE_RUNS [3]                  events per prefill size
//   BENCH_PREFILL_CHUNK [2000]            keys per prefill PATCH
//   BENCH_START_RUNS [3]                  measured runs of --npm-start
//   BENCH_OUT [bench/]                    where the results, report and charts go
//   WATCHER_PORT_WAIT_MS [0]              (harness) wait for port 3000 if another watcher runs
import { readFileSync } from "node:fs";
import path from "node:path";

import * as cluster from "../cluster";
import { latencyChart, scaleChart } from "./charts";
import { describeSetup, measure, readConfig, type Results } from "./measure";
import { benchDeployed, benchNpmStart } from "./modes";
import { renderReport } from "./report";
import * as shared from "./shared";
import { progress, round } from "./shared";

async function main(): Promise<void> {
  const config = readConfig();
  progress("setup", `${JSON.stringify(config)}, out ${shared.outDir()}`);
  if (cluster.useExisting()) throw new Error("the benchmark needs the local control plane");
  const described = describeSetup(cluster.buildControlPlane(false));
  cluster.buildModule(true);
  const { machine, module } = described;
  progress("setup", `${machine.cpuModel}, ${machine.cores} cores, module ${module.commit}`);
  const started = Date.now();
  const cp = await cluster.startControlPlane();
  const startWallSeconds = round((Date.now() - started) / 1000, 2);
  progress("control plane", `ready in ${startWallSeconds}s; starting the watcher`);
  const live: { stop(): unknown }[] = [];
  try {
    const setup = { config, startWallSeconds, ...described };
    const results = await measure(cp, setup, live);
    await writeOutputs(results);
    const s = results.summary;
    process.stdout.write(`${s.median_s} ${s.p95_s} ${s.ratio_to_bound} ${s.patches_per_event}\n`);
  } finally {
    for (const running of live.reverse()) await running.stop();
    await cp.stop();
  }
}

async function writeOutputs(results: Results): Promise<void> {
  await shared.writeOutput("results.json", JSON.stringify(results, null, 2));
  await shared.writeOutput("latency.svg", await latencyChart(results));
  await shared.writeOutput("scale.svg", await scaleChart(results));
  await shared.writeOutput("REPORT.md", renderReport(results));
  progress("done", `wrote ${shared.outDir()}/{results.json,REPORT.md,latency.svg,scale.svg}`);
}

/** `--report`: re-renders REPORT.md and the charts from results.json. */
async function reportOnly(): Promise<void> {
  const results = readFileSync(path.join(shared.outDir(), "results.json"), "utf8");
  await writeOutputs(JSON.parse(results) as Results);
}

const MODES: Record<string, () => Promise<void>> = {
  "--report": reportOnly,
  "--deployed": benchDeployed,
  "--npm-start": benchNpmStart,
};

const args = process.argv.slice(2);
const named = args.length === 1 && Object.hasOwn(MODES, args[0]) ? MODES[args[0]] : undefined;
const mode = args.length === 0 ? main : named;
if (!mode) {
  const usage = `usage: npm run bench [-- ${Object.keys(MODES).join(" | ")}]`;
  process.stderr.write(`${usage} (got: ${args.join(" ")})\n`);
  process.exitCode = 2;
}
mode?.().catch((err: unknown) => {
  process.stderr.write(
    `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : err}\n`,
  );
  if (err instanceof Error && err.cause) process.stderr.write(`cause: ${String(err.cause)}\n`);
  process.exitCode = 1;
});
