// README.md's "Local cluster", run verbatim: `npm run cluster -- up` in a first shell, then the
// second shell's lines (the module's own commands: npx pepr deploy, kubectl create, kubectl get
// peprstore), each run by bash after the section's `eval` line, in a copy of the repository so
// that `npx pepr deploy` does not write into this checkout. Then the lifecycle the section
// describes: a second `up` and a `delete` refused while it runs, Ctrl-C, the kept cluster found
// again by the next `up`, and `delete`. The cluster's data dir is the test's ($CLUSTER_DATA_DIR).
import { ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parse } from "yaml";

import { waitFor } from "../../../cluster";
import { NODE_START_TIMEOUT_MS } from "../../../cluster/controlplane";
import { PLACEHOLDER, scheduleStoreName, storeName } from "../../../store/contract";
import { readmeSection, runAsUser } from "../readme";
import { EXPECTED_DATA, MODULE_NAMESPACE } from "../scenario";
import { SUITE_TIMEOUT_MS } from "./deployed";
import { copyModule, ModuleCopy } from "./module-copy";

const SECTION = "Local cluster";
const ENV_LINE = `eval "$(npm run --silent cluster -- env)"`;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe(`README.md "${SECTION}", run verbatim`, () => {
  const commands = readmeSection(SECTION);
  let dataDir: string;
  let copy: ModuleCopy;
  let up: { child: ChildProcess; out: Result; exited: Promise<number | string> } | undefined;

  /** The environment of both shells: the user's, with the cluster's data dir and no KUBECONFIG. */
  const shellEnv = (): NodeJS.ProcessEnv => {
    const env: NodeJS.ProcessEnv = { ...process.env, CLUSTER_DATA_DIR: dataDir, NO_COLOR: "1" };
    delete env.KUBECONFIG;
    return env;
  };

  /** Runs `script` with bash (pipefail) in the copy, as the second shell. */
  const run = (script: string): Promise<Result> =>
    new Promise(resolve => {
      const child = spawn("bash", ["-o", "pipefail", "-c", script], {
        cwd: copy.dir,
        env: shellEnv(),
        stdio: ["ignore", "pipe", "pipe"],
      });
      const out = { stdout: "", stderr: "" };
      child.stdout.on("data", chunk => (out.stdout += chunk));
      child.stderr.on("data", chunk => (out.stderr += chunk));
      child.on("close", code => resolve({ code, ...out }));
    });

  /** The first shell: `line` in its own process group, until it prints "Cluster up". */
  async function startUp(line: string): Promise<void> {
    const child = spawn("bash", ["-c", line], {
      cwd: copy.dir,
      env: shellEnv(),
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const out: Result = { code: null, stdout: "", stderr: "" };
    child.stdout?.on("data", chunk => (out.stdout += chunk));
    child.stderr?.on("data", chunk => (out.stderr += chunk));
    const exited = new Promise<number | string>(resolve =>
      child.on("close", (code, signal) => resolve(code ?? signal ?? "unknown")),
    );
    up = { child, out, exited };
    await waitFor(
      `"${line}" to print "Cluster up"`,
      () => (out.stdout.includes("Cluster up:") || child.exitCode !== null ? true : undefined),
      NODE_START_TIMEOUT_MS,
      250,
    );
    expect(out.stdout).toMatch(/\nCluster up: https:\/\/127\.0\.0\.1:\d+, node hpsr-node /);
  }

  /** Ctrl-C in the first shell; resolves with how it ended. */
  async function ctrlC(): Promise<number | string | undefined> {
    process.kill(-(up?.child.pid as number), "SIGINT");
    return up?.exited;
  }

  beforeAll(() => {
    dataDir = path.join(mkdtempSync(path.join(os.tmpdir(), "hpsr-readme-up-")), "cluster");
    copy = copyModule({ linkNodeModules: true });
  });

  afterAll(async () => {
    if (up && up.child.exitCode === null && up.child.signalCode === null) await ctrlC();
    copy?.remove();
    rmSync(path.dirname(dataDir), { recursive: true, force: true });
  });

  it("the section shows up, the second shell's lines, and the lifecycle commands", () => {
    expect(commands.blocks.map(block => block.map(line => line.split(/\s+#/)[0].trim()))).toEqual([
      ["npm run cluster -- up"],
      [
        ENV_LINE,
        "npx pepr deploy --yes",
        "kubectl create ns hello-pepr-store-resources",
        "kubectl create cm observe -n hello-pepr-store-resources",
        `kubectl logs -n pepr-system deploy/pepr-hello-pepr-store-resources-watcher | grep '"msg":"observed"'`,
        "kubectl get peprstore -n pepr-system -o yaml",
      ],
    ]);
    expect(commands.inline("npm run cluster -- ")).toEqual([
      "npm run cluster -- up --fresh",
      "npm run cluster -- delete",
      "npm run cluster -- load image-archive IMAGE.tar --name REPO",
    ]);
  });

  it(
    "npm run cluster -- up, then the module's commands in a second shell: observed, the four keys",
    async () => {
      await startUp(commands.blocks[0][0]);
      const [envLine, ...lines] = commands.blocks[1];
      const outputs: string[] = [];
      for (const line of lines) {
        const script = `${envLine}\n${line}`;
        const result = await runAsUser(line, () => run(script));
        expect({ line, code: result.code, stderr: result.code === 0 ? "" : result.stderr }).toEqual(
          { line, code: 0, stderr: "" },
        );
        outputs.push(result.stdout);
      }
      const [, ns, cm, logs, stores] = outputs;
      expect(ns).toBe(`namespace/${MODULE_NAMESPACE} created\n`);
      expect(cm).toBe("configmap/observe created\n");
      expect(
        logs
          .trim()
          .split("\n")
          .map(l => JSON.parse(l).msg),
      ).toEqual(["observed"]);
      const list = parse(stores) as { items: { metadata: { name: string }; data: object }[] };
      expect(list.items.map(s => [s.metadata.name, s.data])).toEqual([
        [scheduleStoreName(), PLACEHOLDER],
        [storeName(), EXPECTED_DATA],
      ]);
    },
    SUITE_TIMEOUT_MS,
  );

  it("while it is up, a second up and a delete are refused, naming the running one", async () => {
    const pid = up?.child.pid as number;
    const second = await run("npm run --silent cluster -- up");
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(
      new RegExp(`^a cluster is already up in ${dataDir} \\(npm run cluster -- up, pid \\d+, `),
    );
    const del = await run("npm run --silent cluster -- delete");
    expect(del.code).toBe(1);
    expect(del.stderr).toMatch(new RegExp(`^the cluster in ${dataDir} is up \\(npm run cluster`));
    expect(existsSync(dataDir)).toBe(true);
    expect(pid).toBeGreaterThan(0);
  });

  it(
    "Ctrl-C stops it and keeps it: the next up finds the store again",
    async () => {
      // the cluster's process exits 0; npm then ends itself with the signal (a shell shows 130)
      expect(await ctrlC()).toBe("SIGINT");
      expect(up?.out.stderr).toContain(`cluster stopped (SIGINT); kept in ${dataDir}\n`);
      await startUp(commands.blocks[0][0]);
      const store = await run(
        `${ENV_LINE}\nkubectl get peprstore -n pepr-system ${storeName()} -o jsonpath='{.data}'`,
      );
      expect(JSON.parse(store.stdout)).toEqual(EXPECTED_DATA);
      expect(await ctrlC()).toBe("SIGINT");
    },
    SUITE_TIMEOUT_MS,
  );

  it("npm run cluster -- delete removes the kept cluster", async () => {
    const del = await run(commands.inline("npm run cluster -- delete")[0]);
    expect(del.code).toBe(0);
    expect(del.stderr).toContain(
      `deleted the cluster kept in ${dataDir} (etcd data, certificates, images)\n`,
    );
    expect(existsSync(dataDir)).toBe(false);
    const env = await run("npm run --silent cluster -- env");
    expect(env.code).toBe(1);
    expect(env.stderr).toContain(
      `no cluster is up in ${dataDir}: start one with npm run cluster -- up\n`,
    );
  });
});
