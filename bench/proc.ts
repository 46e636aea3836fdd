// What the benchmark reads about processes and the machine: /proc, os, and the tool versions.
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";

/** Memory and CPU time of a process, from /proc/<pid>/status and /proc/<pid>/stat. */
export interface ProcSample {
  /** Date.now() of the sample. */
  at: number;
  /** Peak resident set size so far (VmHWM), bytes. */
  peakRssBytes: number;
  /** Current resident set size (VmRSS), bytes. */
  rssBytes: number;
  /** User + system CPU time so far (utime + stime), seconds. */
  cpuSeconds: number;
}

let clockTicks: number | undefined;

/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`, 100 when unknown). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    const out = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout;
    clockTicks = Number(out?.trim()) || 100;
  }
  return clockTicks;
}

/**
 * Samples a running process.
 *
 * @throws Error when /proc/<pid> is gone or not in the expected format
 */
export function sampleProcess(pid: number): ProcSample {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kB = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
    if (!m) throw new Error(`/proc/${pid}/status: no ${field}`);
    return Number(m[1]) * 1024;
  };
  // Fields after the command name (which may contain spaces) start with the state (field 3);
  // utime and stime are fields 14 and 15.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(rest[14 - 3]);
  const stime = Number(rest[15 - 3]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`/proc/${pid}/stat: cannot read utime/stime`);
  }
  return {
    at: Date.now(),
    peakRssBytes: kB("VmHWM"),
    rssBytes: kB("VmRSS"),
    cpuSeconds: (utime + stime) / ticksPerSecond(),
  };
}

/** The machine and the versions the figures come from. */
export interface Machine {
  cpuModel: string;
  cores: number;
  ramGiB: number;
  kernel: string;
  node: string;
  go: string;
  kubernetes: string;
  etcd: string;
}

/**
 * Describes this machine; the Go, Kubernetes and etcd versions come from the control plane binary
 * (`controlplane version` prints the module versions linked into it and its Go version).
 */
export function describeMachine(controlplaneBinary: string): Machine {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? "unknown";
  const versions = execFileSync(controlplaneBinary, ["version"], { encoding: "utf8" });
  const version = (prefix: string): string =>
    new RegExp(`^${prefix} (\\S+)$`, "m").exec(versions)?.[1] ?? "unknown";
  return {
    cpuModel: model.trim(),
    cores: os.cpus().length,
    ramGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    go: version("go"),
    kubernetes: version("k8s.io/kubernetes"),
    etcd: version("go.etcd.io/etcd/server/v3"),
  };
}

/** The 1-minute load average now. */
export function loadAverage(): number {
  return os.loadavg()[0];
}
