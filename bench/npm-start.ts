// npm run bench -- --npm-start: a warm `npm start`, as a user runs it, from the command to the printed
// PeprStore, with where the time goes. Each run is spawned in a process group of its own, its
// stderr timed line by line, and stopped with Ctrl-C once the store is printed. A first run warms
// the caches (the builds and the image) and is not counted.
//
// Environment (defaults in brackets):
//   BENCH_START_RUNS [3]  measured runs
//   BENCH_OUT [bench/]    where start-results.json goes
// Prints progress on stderr and a Markdown table on stdout.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import readline from "node:readline";

import { repoRoot } from "../cluster";
import { intEnv, progress } from "./progress";
import { round, summarize, Summary } from "./stats";

/** The phases of one run, each in seconds, in the order they happen. */
const PHASES = [
  ["npm and tsx start", /^\[1\/\d\] /],
  ["cluster up (builds cached, controller image imported)", /^\[2\/\d\] /],
  ["pepr build (type check, format check, bundle)", /Establishing connection to Kubernetes/],
  ["pepr deploy applies the module", /Checking pepr-system deployments status/],
  ["watcher pod scheduled, started, serving", /^\[3\/\d\] /],
  ['kubectl create cm observe, then "observed"', /^\[5\/\d\] /],
  ["kubectl get peprstore printed", /^kind: PeprStore$/],
] as const;

/** One `npm start`: the seconds from the spawn to each phase's end, then its Ctrl-C. */
async function run(): Promise<number[]> {
  const started = Date.now();
  const child = spawn("npm", ["start"], {
    cwd: repoRoot(),
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const ends: number[] = [];
  const done = new Promise<void>((resolve, reject) => {
    const onLine = (line: string): void => {
      const next = PHASES[ends.length];
      if (next && next[1].test(line.replace(/^ *\| /, "")))
        ends.push((Date.now() - started) / 1000);
      if (ends.length === PHASES.length) resolve();
    };
    readline.createInterface({ input: child.stdout }).on("line", onLine);
    readline.createInterface({ input: child.stderr }).on("line", onLine);
    child.on("close", code =>
      reject(new Error(`npm start exited ${code} after ${ends.length} phases`)),
    );
  });
  await done;
  process.kill(-(child.pid as number), "SIGINT");
  await new Promise(resolve => child.on("close", resolve));
  return ends.map((end, i) => round(end - (ends[i - 1] ?? 0), 2));
}

/** `npm run bench -- --npm-start`: see the top of this file. */
export async function benchNpmStart(): Promise<void> {
  const runs = intEnv("BENCH_START_RUNS", 3);
  const say = (msg: string): void => progress("npm start", msg);
  say("warm-up run (builds and image cached)...");
  await run();
  const measured: number[][] = [];
  for (let i = 1; i <= runs; i++) {
    const phases = await run();
    const total = round(
      phases.reduce((a, b) => a + b, 0),
      2,
    );
    say(`run ${i}/${runs}: ${total} s to the printed store`);
    measured.push(phases);
  }
  const totals = measured.map(p =>
    round(
      p.reduce((a, b) => a + b, 0),
      2,
    ),
  );
  const median = (values: number[]): number => round((summarize(values) as Summary).median, 2);
  const rows = PHASES.map(([name], i) => {
    const each = measured.map(p => p[i]);
    return { name, median: median(each), each };
  });
  const total = median(totals);
  const out = process.env.BENCH_OUT ?? path.join(repoRoot(), "bench");
  mkdirSync(out, { recursive: true });
  const results = { phases: rows, totals, medianTotal: total };
  writeFileSync(path.join(out, "start-results.json"), `${JSON.stringify(results, null, 2)}\n`);
  const line = (cells: (string | number)[]): string => `| ${cells.join(" | ")} |`;
  const table = [
    line(["warm `npm start`, phase", "median s", "share", "each run s"]),
    line(["---", "---:", "---:", "---"]),
    ...rows.map(r =>
      line([r.name, r.median, `${Math.round((100 * r.median) / total)} %`, r.each.join(", ")]),
    ),
    line(["**command to printed store**", total, "", totals.join(", ")]),
  ];
  process.stdout.write(`${table.join("\n")}\n`);
}
