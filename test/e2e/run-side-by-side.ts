// `npm run test:e2e`: the tier's files in a few Jest processes side by side, each in its own
// network namespace (`unshare --net`, as a pod has its own), so that each process has its own
// loopback: its own shared control plane, and its own port 3000 for Pepr's watcher, whose port
// is fixed. Without the right to make a network namespace (root), one Jest process runs them all.
//
// Words on the command line select files (as Jest's patterns); options go to every process and
// must be written `--name=value`. $HPSR_E2E_PROCESSES sets how many processes (default 4).
import { spawnSync } from "node:child_process";
import path from "node:path";

import { CloseEvent, concurrently } from "concurrently";

import {
  buildControlPlane,
  buildModule,
  describeMissing,
  ensureRequirements,
  repoRoot,
} from "../../cluster";

/**
 * Seconds each file takes when the tier runs in one process (mean of five runs at load average
 * 7-15; the two faults files from their tests' times in one run, scaled to that load): what the
 * processes are balanced by.
 */
export const MEASURED_SECONDS: Readonly<Record<string, number>> = {
  "faults.test.ts": 60,
  "faults-before-flush.test.ts": 45,
  "start.test.ts": 80,
  "controlplane.test.ts": 38,
  "cli.test.ts": 37,
  "store.test.ts": 29,
  "ignored.test.ts": 24,
  "manifest.test.ts": 20,
  "least-privilege.test.ts": 17,
};
/** For a file not measured yet. */
const UNMEASURED_SECONDS = 30;
export const DEFAULT_PROCESSES = 4;
const CONFIG = "jest.e2e.config.cjs";

/** Expected seconds of a test file. */
export function expectedSeconds(file: string): number {
  return MEASURED_SECONDS[path.basename(file)] ?? UNMEASURED_SECONDS;
}

/**
 * Splits files into at most `count` groups of about equal expected time: longest first, each
 * to the group that ends soonest.
 */
export function splitByDuration(files: readonly string[], count: number): string[][] {
  const groups = Array.from({ length: Math.min(count, files.length) }, () => ({
    files: [] as string[],
    seconds: 0,
  }));
  const longestFirst = [...files].sort(
    (a, b) => expectedSeconds(b) - expectedSeconds(a) || a.localeCompare(b),
  );
  for (const file of longestFirst) {
    const soonest = groups.reduce((best, g) => (g.seconds < best.seconds ? g : best));
    soonest.files.push(file);
    soonest.seconds += expectedSeconds(file);
  }
  return groups.map(g => g.files);
}

/** How many processes $HPSR_E2E_PROCESSES asks for. @throws on anything but a positive integer */
export function processCount(value: string | undefined): number {
  if (value === undefined || value === "") return DEFAULT_PROCESSES;
  if (!/^[1-9][0-9]*$/.test(value)) {
    throw new Error(`HPSR_E2E_PROCESSES must be a positive integer, not "${value}"`);
  }
  return Number(value);
}

/**
 * Quotes a word for sh (concurrently runs command lines through a shell), only when it needs it:
 * concurrently strips the quotes around a whole command line.
 */
export function shellQuote(word: string): string {
  return /^[\w/.=:,@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Why a network namespace cannot be made here, or undefined when it can. */
function networkNamespaceRefusal(): string | undefined {
  const probe = spawnSync("unshare", ["--net", "--", "ip", "link", "set", "lo", "up"], {
    encoding: "utf8",
  });
  if (probe.status === 0) return undefined;
  return (probe.error?.message ?? probe.stderr.trim()) || `exit ${probe.status}`;
}

/** The test files Jest selects with these words, in the order it lists them. */
function listFiles(words: readonly string[]): string[] {
  const jest = require.resolve("jest/bin/jest");
  const listed = spawnSync(process.execPath, [jest, "--config", CONFIG, "--listTests", ...words], {
    cwd: repoRoot(),
    encoding: "utf8",
  });
  if (listed.status !== 0) {
    throw new Error(`jest --listTests failed (exit ${listed.status}):\n${listed.stderr}`);
  }
  return listed.stdout.split("\n").filter(line => line.endsWith(".ts"));
}

/** The command line of one Jest process for `files`, in its own network namespace or not. */
export function jestCommand(
  files: readonly string[],
  options: readonly string[],
  isolated: boolean,
): string {
  const jest = [process.execPath, require.resolve("jest/bin/jest"), "--config", CONFIG];
  const line = [...jest, "--runInBand", ...options, "--runTestsByPath", ...files];
  // a new network namespace has only lo, and it is down
  const inNamespace = [
    "unshare",
    "--net",
    "--",
    "sh",
    "-c",
    'ip link set lo up && exec "$@"',
    "sh",
  ];
  return (isolated ? [...inNamespace, ...line] : line).map(shellQuote).join(" ");
}

/** One line per process: its files, exit code and seconds. */
function summary(events: readonly CloseEvent[], groups: readonly string[][]): string {
  return events
    .map(e => {
      const names = groups[e.index].map(f => path.basename(f)).join(", ");
      const secs = e.timings.durationSeconds.toFixed(1);
      return `timing: e2e-${e.index + 1}: exit ${e.exitCode} in ${secs} s (${names})`;
    })
    .join("\n");
}

async function main(args: string[]): Promise<number> {
  const options = args.filter(a => a.startsWith("-"));
  const words = args.filter(a => !a.startsWith("-"));
  const count = processCount(process.env.HPSR_E2E_PROCESSES);
  const files = listFiles(words);
  if (files.length === 0) throw new Error(`no e2e test file matches ${words.join(" ")}`);
  // what the tier needs from the host (openssl, ip, unshare): installed as root, else named
  const missing = ensureRequirements(["e2e"], line => process.stderr.write(`e2e: ${line}\n`));
  if (missing.length > 0) process.stderr.write(`e2e: ${describeMissing(missing)}\n`);
  // Built once here: the processes would otherwise race to build the same outputs.
  buildControlPlane(true);
  buildModule(true);
  const refusal = count > 1 ? networkNamespaceRefusal() : undefined;
  if (refusal) process.stderr.write(`e2e: one Jest process, no network namespace: ${refusal}\n`);
  const groups = splitByDuration(files, refusal ? 1 : count);
  const isolated = groups.length > 1;
  for (const [i, group] of groups.entries()) {
    const expected = group.reduce((s, f) => s + expectedSeconds(f), 0);
    const names = group.map(f => path.basename(f)).join(", ");
    process.stderr.write(`e2e-${i + 1} (about ${expected} s measured): ${names}\n`);
  }
  const started = Date.now();
  const { result } = concurrently(
    groups.map((group, i) => ({
      name: `e2e-${i + 1}`,
      command: jestCommand(group, options, isolated),
    })),
    { prefix: "[{name}]", cwd: repoRoot(), killOthersOn: [] },
  );
  const events = await result.catch((failed: CloseEvent[]) => failed);
  process.stderr.write(
    `${summary(events, groups)}\ntiming: e2e wall ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
  return events.every(e => e.exitCode === 0) ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    code => process.exit(code),
    (err: Error) => {
      process.stderr.write(`e2e: ${err.message}\n`);
      process.exit(2);
    },
  );
}
