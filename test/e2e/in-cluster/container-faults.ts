// Faults of the watcher's container, made from the host that runs the node: the kernel's OOM
// killer in the container's memory cgroup, and a SIGKILL through containerd (`ctr tasks kill`,
// the ctr of the node's own containerd build). Pepr's controller (the container's main process,
// dist/controller.js) forks the module (`node /app/module-<hash>.js`): that child is the watcher.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";

import type { V1ContainerStatus, V1Pod } from "@kubernetes/client-node";

import { type ControlPlane, objectApi, requireNode, waitFor } from "../../../cluster";
import { watcherPodObject } from "./deployed";

/** The watcher's container as the host sees it. */
export interface WatcherContainer {
  /** containerd's id of the container (`containerID` without `containerd://`). */
  id: string;
  /** Host pid of the container's main process (Pepr's controller.js). */
  mainPid: number;
  /** Host pid of the module process it forked (the watcher). */
  modulePid: number;
  /** The container's memory cgroup (v1 hierarchy, or the v2 unified one), as a host path. */
  memoryCgroup: string;
  /** That cgroup's path as the kernel names it in its OOM messages. */
  memcgPath: string;
}

function ctr(cp: ControlPlane, args: string[]): string {
  const node = requireNode(cp.local);
  return execFileSync(node.ctr, ["--address", node.containerd, "-n", node.namespace, ...args], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** The pod's only container's status (the watcher Deployment has one container). */
export async function containerStatus(cp: ControlPlane, pod: string): Promise<V1ContainerStatus> {
  const { status } = await objectApi(cp).read<V1Pod>(watcherPodObject(pod));
  const statuses = status?.containerStatuses ?? [];
  if (statuses.length !== 1)
    throw new Error(`pod ${pod} has ${statuses.length} container statuses`);
  return statuses[0];
}

function commandLine(pid: string): string {
  return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
}

/**
 * Finds the pod's running container on the host: its main pid from containerd (`ctr tasks ls`),
 * its memory cgroup from /proc/<pid>/cgroup, the module process among the cgroup's processes.
 */
export async function watcherContainer(cp: ControlPlane, pod: string): Promise<WatcherContainer> {
  const id = ((await containerStatus(cp, pod)).containerID ?? "").replace(/^containerd:\/\//, "");
  const task = ctr(cp, ["tasks", "ls"])
    .split("\n")
    .map(line => line.split(/\s+/))
    .find(([taskId, , status]) => taskId === id && status === "RUNNING");
  if (!id || !task) throw new Error(`no running containerd task for pod ${pod} (container ${id})`);
  const mainPid = Number(task[1]);
  const cgroups = readFileSync(`/proc/${mainPid}/cgroup`, "utf8").split("\n");
  const v1 = cgroups.find(line => line.split(":")[1] === "memory");
  const memcgPath = (v1 ?? cgroups.find(line => line.startsWith("0::")) ?? "").split(":")[2];
  const memoryCgroup = v1 ? `/sys/fs/cgroup/memory${memcgPath}` : `/sys/fs/cgroup${memcgPath}`;
  const procs = readFileSync(`${memoryCgroup}/cgroup.procs`, "utf8").trim().split("\n");
  const module = procs.find(pid =>
    /^\S*node \/app\/module-[0-9a-f]{64}\.js$/.test(commandLine(pid)),
  );
  if (!module) {
    throw new Error(`no module process in ${memoryCgroup}: ${procs.map(commandLine).join("; ")}`);
  }
  return { id, mainPid, modulePid: Number(module), memoryCgroup, memcgPath };
}

/** A number from the container's memory cgroup: the v1 file, or else the v2 one. */
function memoryValue(c: WatcherContainer, v1File: string, v2File: string): number {
  try {
    return Number(readFileSync(`${c.memoryCgroup}/${v1File}`, "utf8"));
  } catch {
    return Number(readFileSync(`${c.memoryCgroup}/${v2File}`, "utf8"));
  }
}

/** How far below the limit the first, fast write stops. */
const HEADROOM_MIB = 16;
/** The steps after it: the first step the cgroup cannot hold makes the kernel kill one process. */
const STEP_KIB = 256;

/** The kernel's OOM kill in the container's cgroup: its `oom-kill:` line and the pid it names. */
export interface OomKill {
  line: string;
  pid: number;
}

/**
 * Fills the container's memory cgroup up to its limit with a file on the host's /dev/shm (tmpfs),
 * written by `dd` from inside the cgroup: tmpfs pages are charged to the cgroup that writes them,
 * cannot be reclaimed without swap and belong to no process, so the kernel's OOM killer picks the
 * largest process of the cgroup. That is one of the two `node` processes (controller.js or the
 * module it forked): right after start-up they are within a MiB of each other (30 877 and
 * 30 645 pages in one kernel report), so either can be picked. The writes stop at the first OOM
 * kill the cgroup counts (`oom_kill` in memory.oom_control, v2 memory.events), so one process is
 * killed. The file is removed afterwards. (The host's root here lacks CAP_SYS_RESOURCE, so no
 * process can be exempted from the OOM killer with oom_score_adj.)
 *
 * @returns the kernel's OOM-kill line for the container's cgroup (from `dmesg`) and its pid
 * @throws when the kernel logs no OOM kill in that cgroup
 */
export async function oomKillContainer(c: WatcherContainer): Promise<OomKill> {
  fillMemoryCgroup(c);
  const inCgroup = `,task_memcg=${c.memcgPath},`;
  const line = await waitFor(
    `the kernel's OOM kill in ${c.memcgPath}`,
    async () =>
      execFileSync("dmesg", { encoding: "utf8" })
        .split("\n")
        .find(l => l.includes("oom-kill:") && l.includes(inCgroup)),
    10_000,
  );
  return { line, pid: Number(/,pid=(\d+),/.exec(line)?.[1]) };
}

/** The `dd` fill of {@link oomKillContainer}, run from inside the container's memory cgroup. */
function fillMemoryCgroup(c: WatcherContainer): void {
  const shm = `/dev/shm/hello-pepr-store-resources-oom-${c.id.slice(0, 12)}`;
  const limit = memoryValue(c, "memory.limit_in_bytes", "memory.max");
  const free = limit - memoryValue(c, "memory.usage_in_bytes", "memory.current");
  const fastMiB = Math.max(0, Math.floor(free / 2 ** 20) - HEADROOM_MIB);
  // at most the whole limit again: the usage counted page cache, which the kernel reclaims first,
  // but tmpfs pages past the limit cannot all be held (the loop stops at the first kill anyway)
  const steps = Math.ceil(limit / 1024 / STEP_KIB);
  const events = existsSync(`${c.memoryCgroup}/memory.oom_control`)
    ? `${c.memoryCgroup}/memory.oom_control`
    : `${c.memoryCgroup}/memory.events`;
  // $1 cgroup, $2 its OOM event counts, $3 the file, $4 MiB written at once, $5 steps, $6 KiB a step
  const script = [
    'echo $$ > "$1/cgroup.procs" || exit 1',
    'kills() { sed -n "s/^oom_kill //p" "$2"; }',
    'before=$(kills "$@")',
    'dd if=/dev/zero of="$3" bs=1M count="$4" status=none || exit 1',
    "i=0",
    'while [ "$i" -lt "$5" ] && [ "$(kills "$@")" = "$before" ]; do',
    '  dd if=/dev/zero of="$3" bs="$6K" count=1 seek=$(($4 * 1024 / $6 + i)) conv=notrunc status=none || break',
    "  i=$((i + 1))",
    "done",
  ].join("\n");
  const args = [c.memoryCgroup, events, shm, `${fastMiB}`, `${steps}`, `${STEP_KIB}`];
  try {
    execFileSync("sh", ["-c", script, "oom-fill", ...args], {
      stdio: ["ignore", "ignore", "pipe"],
    });
  } finally {
    rmSync(shm, { force: true });
  }
}

/** Sends SIGKILL to the container's main process through the node's containerd. */
export function killContainer(cp: ControlPlane, c: WatcherContainer): void {
  ctr(cp, ["tasks", "kill", "--signal", "SIGKILL", c.id]);
}

/** Waits until the pod's container restarted `restarts` times in all and is Ready again. */
export function waitForRestart(
  cp: ControlPlane,
  pod: string,
  restarts: number,
): Promise<V1ContainerStatus> {
  return waitFor(
    `pod ${pod}'s container restarted ${restarts} time(s) and Ready`,
    async () => {
      const status = await containerStatus(cp, pod);
      return status.restartCount >= restarts && status.ready ? status : undefined;
    },
    120_000,
    500,
  );
}
