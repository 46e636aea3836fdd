// What a node run may change on the host, read the way an administrator would: mounts, network
// namespaces, veth links, the KUBE-*/CNI-* iptables chains, the kubepods cgroups, the sysctls the
// node components set, and processes. A test takes a snapshot before a run and compares after.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";

/** The sysctls the kubelet, kube-proxy and the bridge plugin may set (/proc/sys paths). */
const NODE_SYSCTLS = [
  "net/ipv4/ip_forward",
  "net/ipv4/conf/all/route_localnet",
  "net/bridge/bridge-nf-call-iptables",
  "net/bridge/bridge-nf-call-ip6tables",
  "vm/overcommit_memory",
  "vm/panic_on_oom",
  "kernel/panic",
  "kernel/panic_on_oops",
];

/** The host state a node run must leave as it found it. */
export interface HostState {
  netns: string[];
  veth: string[];
  chains: string[];
  kubepods: string[];
  sysctls: Record<string, string>;
}

function run(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return ""; // not installed, or nothing to list
  }
}

/** `iptables KUBE-SERVICES` for every KUBE- and CNI- chain of the default and legacy backends. */
function chains(): string[] {
  return ["iptables", "ip6tables", "iptables-legacy", "ip6tables-legacy"].flatMap(cmd =>
    run(`${cmd}-save`, [])
      .split("\n")
      .filter(line => /^:(KUBE-|CNI-)/.test(line))
      .map(line => `${cmd} ${line.slice(1).split(" ")[0]}`),
  );
}

/** kubepods cgroups: one per controller (cgroup v1) or at the root (v2). */
function kubepodsCgroups(): string[] {
  const root = "/sys/fs/cgroup";
  const names = readdirSync(root);
  const v1 = names.map(c => `${root}/${c}/kubepods`).filter(dir => existsSync(dir));
  const v2 = names.filter(n => n.startsWith("kubepods")).map(n => `${root}/${n}`);
  return [...v1, ...v2].sort();
}

export function hostState(): HostState {
  const sysctls: Record<string, string> = {};
  for (const name of NODE_SYSCTLS) {
    const file = `/proc/sys/${name}`;
    if (existsSync(file)) sysctls[name] = readFileSync(file, "utf8").trim();
  }
  return {
    netns: existsSync("/run/netns") ? readdirSync("/run/netns").sort() : [],
    veth: run("ip", ["-o", "link", "show", "type", "veth"])
      .split("\n")
      .filter(Boolean)
      .map(line => line.split(":")[1].trim().split("@")[0])
      .sort(),
    chains: chains().sort(),
    kubepods: kubepodsCgroups(),
    sysctls,
  };
}

/** Processes whose command line or environment names `dir` (containerd, shims, kubelet...). */
export function processesNaming(dir: string): string[] {
  return readdirSync("/proc")
    .filter(p => /^\d+$/.test(p) && Number(p) !== process.pid)
    .flatMap(p => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, "utf8").replace(/\0/g, " ").trim();
        const env = readFileSync(`/proc/${p}/environ`, "utf8");
        return cmd.includes(dir) || env.includes(dir) ? [`${p} ${cmd}`] : [];
      } catch {
        return []; // exited meanwhile
      }
    });
}

/**
 * The control plane's own check after a node stop (`<data-dir>/node/stop-check.json`), made
 * while it still held the machine's node lock: what of the run is left, and what of others it
 * kept in paths the run created.
 */
export function stopCheck(dataDir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(`${dataDir}/node/stop-check.json`, "utf8")) as Record<
    string,
    unknown
  >;
}

/** A stop check that found nothing of the run left, with `kept` the others' files kept. */
export function cleanStopCheck(kept: string[] = []): Record<string, unknown> {
  return { chains: [], mounts: [], processes: [], links: [], paths: [], sysctls: [], kept };
}
