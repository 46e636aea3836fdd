// The local cluster runs as root on people's machines: what it listens on, what another local
// user can reach, and what it leaves of other programs' state. Each test plants what a
// neighbour would have (a chain, a file, a process, a Kubernetes node, a bad record), runs
// `npm run cluster -- up` as a user does, and checks what survives.
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import os from "node:os";
import path from "node:path";

import { mountsUnder, ReadyLine } from "../../../cluster";
import { cleanStopCheck, hostState, HostState, processesNaming, stopCheck } from "./host-state";
import { clusterUp, groupAlive, Run, startInGroup, waitForGroupGone } from "./process-group";

/** The bridge address the API server and the kubelet serve on besides 127.0.0.1. */
const NODE_IP = "10.244.0.1";
/** Where node runs keep their host-state records (root's only). */
const RECORDS = "/var/lib/hello-pepr-store-resources/node-runs";
/** A cgroup hierarchy of this machine (cgroup v1 "pids", or the v2 root). */
const CGROUP_ROOT = existsSync("/sys/fs/cgroup/pids") ? "/sys/fs/cgroup/pids" : "/sys/fs/cgroup";

/** `sleep` in a cgroup of its own under CGROUP_ROOT; kill() ends it and removes the cgroup. */
function sleeperIn(cgroup: string): { pid: number; kill(): void } {
  const dir = path.join(CGROUP_ROOT, cgroup);
  mkdirSync(dir, { recursive: true });
  const child: ChildProcess = spawn("sleep", ["600"], { stdio: "ignore", detached: true });
  writeFileSync(path.join(dir, "cgroup.procs"), String(child.pid));
  return {
    pid: child.pid as number,
    kill() {
      child.kill("SIGKILL");
      for (let d = dir; d !== CGROUP_ROOT; d = path.dirname(d)) {
        for (let i = 0; i < 50; i++) {
          try {
            rmSync(d, { recursive: false, force: true });
            break;
          } catch {
            execFileSync("sleep", ["0.1"]); // the killed task is still leaving the cgroup
          }
        }
      }
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs a Node script as the unprivileged user nobody; returns what it printed. */
function asNobody(script: string): string {
  return execFileSync(
    "setpriv",
    ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "-e", script],
    { encoding: "utf8", cwd: "/", stdio: ["ignore", "pipe", "pipe"] }, // its error is in the message
  );
}

/** HTTPS status of url for a client with no certificate, as nobody ("ERR..." when TLS fails). */
function statusAsNobody(urls: string[], method = "GET"): Record<string, string> {
  const script = `
    const https = require("node:https");
    Promise.all(${JSON.stringify(urls)}.map(url => new Promise(done => {
      const req = https.request(url, { method: ${JSON.stringify(method)}, rejectUnauthorized: false }, res => {
        res.resume(); done([url, String(res.statusCode)]);
      });
      req.on("error", e => done([url, e.code ?? e.message]));
      req.end(${method === "POST" ? "'{}'" : "undefined"});
    }))).then(r => console.log(JSON.stringify(Object.fromEntries(r))));`;
  return JSON.parse(asNobody(script)) as Record<string, string>;
}

/** TCP and UDP listeners as `ss` prints them: "address:port pid". */
function listenersOf(pids: Set<number>): string[] {
  const out = execFileSync("ss", ["-H", "-lntup"], { encoding: "utf8" });
  return out
    .split("\n")
    .filter(Boolean)
    .flatMap(line => {
      const pid = Number(/pid=(\d+)/.exec(line)?.[1]);
      return pids.has(pid) ? [line.trim().split(/\s+/)[4]] : [];
    });
}

describe("the local cluster as root beside other users and programs", () => {
  let dataDir: string;
  let before: HostState;
  let run: Run | undefined;
  const cleanups: (() => void)[] = [];

  beforeAll(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), "hpsr-host-safety-"));
  });

  beforeEach(() => {
    before = hostState();
  });

  afterEach(async () => {
    if (run && groupAlive(run.child.pid as number)) {
      process.kill(-(run.child.pid as number), "SIGINT");
      await waitForGroupGone(run);
    }
    run = undefined;
    for (const undo of cleanups.splice(0).reverse()) undo();
  });

  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  const readyLine = (): ReadyLine =>
    JSON.parse(readFileSync(path.join(dataDir, "cluster.json"), "utf8")) as ReadyLine;

  async function stop(r: Run): Promise<void> {
    process.kill(-(r.child.pid as number), "SIGINT");
    await waitForGroupGone(r);
  }

  function expectHostAsBefore(): void {
    expect(mountsUnder(dataDir)).toEqual([]);
    expect(processesNaming(dataDir)).toEqual([]);
    expect(hostState()).toEqual(before);
    expect(existsSync(RECORDS)).toBe(false);
  }

  test("listens on 127.0.0.1 and the bridge's address only; nobody gets health and no more", async () => {
    const r = (run = await clusterUp(dataDir));
    const ready = readyLine();
    const port = new URL(ready.server).port;
    const pids = new Set(processesNaming(dataDir).map(p => Number(p.split(" ")[0])));
    const hosts = listenersOf(pids).map(a => a.slice(0, a.lastIndexOf(":")));
    expect(hosts.length).toBeGreaterThanOrEqual(8); // up, 4 node components, containerd
    expect([...new Set(hosts)].sort()).toEqual([NODE_IP, "127.0.0.1"]);
    expect(listenersOf(pids)).toContain(`${NODE_IP}:${port}`);

    const api = (host: string, p: string) => `https://${host}:${port}${p}`;
    expect(
      statusAsNobody([
        api("127.0.0.1", "/readyz"),
        api(NODE_IP, "/livez"),
        api("127.0.0.1", "/version"),
        api(NODE_IP, "/api/v1/secrets"),
        api("127.0.0.1", "/apis"),
      ]),
    ).toEqual({
      [api("127.0.0.1", "/readyz")]: "200",
      [api(NODE_IP, "/livez")]: "200",
      [api("127.0.0.1", "/version")]: "401",
      [api(NODE_IP, "/api/v1/secrets")]: "401",
      [api("127.0.0.1", "/apis")]: "401",
    });
    const put = `${ready.etcd}/v3/kv/put`;
    expect(statusAsNobody([`${ready.etcd}/v3/kv/range`, put], "POST")).toEqual({
      [`${ready.etcd}/v3/kv/range`]: "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
      [put]: "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
    });
    // nor can nobody read a key or the records
    expect(() =>
      asNobody(
        `require("fs").readFileSync(${JSON.stringify(path.join(dataDir, "pki", "ca.key"))})`,
      ),
    ).toThrow(/EACCES/);
    expect(() => asNobody(`require("fs").readdirSync(${JSON.stringify(RECORDS)})`)).toThrow(
      /EACCES/,
    );
    await stop(r);
    expectHostAsBefore();
  });

  test("a chain, a file and a process of others, made before and during the run, survive it", async () => {
    execFileSync("iptables", ["-w", "5", "-N", "KUBE-HPSR-TEST-FOREIGN"]);
    cleanups.push(() => execFileSync("iptables", ["-w", "5", "-X", "KUBE-HPSR-TEST-FOREIGN"]));
    const optCni = !existsSync("/opt/cni");
    mkdirSync("/opt/cni/bin", { recursive: true });
    writeFileSync("/opt/cni/bin/hpsr-test-foreign", "#!/bin/sh\n");
    cleanups.push(() =>
      rmSync(optCni ? "/opt/cni" : "/opt/cni/bin/hpsr-test-foreign", { recursive: true }),
    );
    const sleeper = sleeperIn("hpsr-test-foreign");
    cleanups.push(() => sleeper.kill());
    before = hostState();
    const cniCache = !existsSync("/var/lib/cni");
    const r = (run = await clusterUp(dataDir));
    // what a neighbour writes while the run goes on, in a path the run created
    mkdirSync("/var/lib/cni/results", { recursive: true });
    writeFileSync("/var/lib/cni/results/podman-hpsr-test", "{}");
    cleanups.push(() =>
      rmSync(cniCache ? "/var/lib/cni" : "/var/lib/cni/results/podman-hpsr-test", {
        recursive: true,
        force: true,
      }),
    );
    await stop(r);

    expect(existsSync("/opt/cni/bin/hpsr-test-foreign")).toBe(true);
    expect(alive(sleeper.pid)).toBe(true);
    expect(readFileSync("/var/lib/cni/results/podman-hpsr-test", "utf8")).toBe("{}");
    expect(hostState().chains).toContain("iptables KUBE-HPSR-TEST-FOREIGN");
    expect(stopCheck(dataDir)).toEqual(
      cleanStopCheck(cniCache ? ["/var/lib/cni/results/podman-hpsr-test"] : []),
    );
    expectHostAsBefore();
  });

  test("the kubelet killed mid-run: named, everything stopped, exit 1, the host as before", async () => {
    const r = (run = await clusterUp(dataDir));
    const kubelet = processesNaming(dataDir).find(p => /\/controlplane kubelet /.test(p));
    expect(kubelet).toBeDefined();
    process.kill(Number(kubelet?.split(" ")[0]), "SIGKILL");
    await waitForGroupGone(r);
    expect(await r.exited).toBe(1);
    const log = path.join(dataDir, "node", "logs", "kubelet.log");
    expect(r.out.stderr).toContain(
      `\nerror: the control plane exited with 6 (a component exited after the cluster was up ` +
        `(named above); everything was stopped): kubelet exited (signal: killed); its log: ${log}; ` +
        `kept in ${dataDir}\n`,
    );
    expectHostAsBefore();
  });

  test("the control plane killed (SIGKILL): the next start puts the host back from its record", async () => {
    const r = (run = await clusterUp(dataDir));
    const up = JSON.parse(readFileSync(path.join(dataDir, "cluster.json"), "utf8")).pid as number;
    process.kill(up, "SIGKILL");
    await waitForGroupGone(r);
    expect(readFileSync(path.join(RECORDS, recordName(dataDir)), "utf8")).toContain(dataDir);
    const again = (run = await clusterUp(dataDir));
    expect(again.out.stderr).toMatch(
      new RegExp(`node: cleaning up what the run of ${dataDir}, killed after \\S+, left\n`),
    );
    await stop(again);
    expectHostAsBefore();
  });

  test.each([
    [
      "an unknown sysctl",
      { sysctls: { "../../../etc/hostname": "1" } },
      'unknown sysctl "../../../etc/hostname"',
    ],
    [
      "a path outside the node's",
      { created: ["/home"] },
      `created path "/home" is not one of the node's fixed paths`,
    ],
  ])("a record naming %s is refused, and nothing is done with it", async (_, bad, why) => {
    const planted = "/tmp/hpsr-test-planted-run";
    const file = path.join(RECORDS, recordName(planted));
    mkdirSync(RECORDS, { recursive: true, mode: 0o700 });
    writeFileSync(
      file,
      JSON.stringify({
        dataDir: planted,
        boot: "",
        sysctls: {},
        created: [],
        chains: {},
        bridge: "",
        cgroups: [],
        recorded: "2026-12-04T00:00:00Z",
        ...bad,
      }),
      { mode: 0o600 },
    );
    cleanups.push(() => rmSync(path.dirname(RECORDS), { recursive: true, force: true }));
    const r = (run = startInGroup("npm run cluster -- up", { CLUSTER_DATA_DIR: dataDir }));
    await waitForGroupGone(r);
    expect(await r.exited).toBe(1);
    expect(r.out.stderr).toContain(
      `controlplane: node: the host-state record ${file} is refused (${why}): check the machine by hand, then remove the file\n`,
    );
    expect(existsSync("/home")).toBe(true);
    expect(existsSync(file)).toBe(true);
  });

  test("another node's pods in the kubepods cgroup: the node start is refused", async () => {
    const pod = sleeperIn("kubepods/hpsr-test-pod");
    cleanups.push(() => pod.kill());
    const r = (run = startInGroup("npm run cluster -- up", { CLUSTER_DATA_DIR: dataDir }));
    await waitForGroupGone(r);
    expect(await r.exited).toBe(1);
    expect(r.out.stderr).toContain(
      `controlplane: node: the pods of another Kubernetes node run in this machine's kubepods ` +
        `cgroups (pid ${pod.pid}): stop that node first\n`,
    );
    expect(alive(pod.pid)).toBe(true);
  });
});

/** The record file name of a data dir, as the control plane names it. */
function recordName(dataDir: string): string {
  return `${createHash("sha256").update(dataDir).digest("hex").slice(0, 16)}.json`;
}
