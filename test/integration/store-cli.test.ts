// store/cli.ts with its real CliIO (processIO): the library's real requests on the integration
// control plane, the process's stdout and stderr, and its SIGINT/SIGTERM listeners. (The
// compiled bin, its exit and every exit code run end-to-end in test/e2e/cli.test.ts.)
import { EXIT, main, processIO } from "../../store/cli";
import { waitFor } from "../../cluster/wait";
import { applyStore, integrationCluster, uniqueName } from "./cluster";

/** Collects what is written to `stream` (without printing it) until Jest restores the spy. */
function capture(stream: NodeJS.WriteStream): string[] {
  const written: string[] = [];
  jest.spyOn(stream, "write").mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  return written;
}

const signalListeners = () =>
  process.listeners("SIGINT").length + process.listeners("SIGTERM").length;

/** The store of a module of its own in pepr-system (where the CLI reads), and the CLI's arguments for it. */
async function cliStore(data: Record<string, string>) {
  const uuid = uniqueName("u");
  const name = `pepr-${uuid}-store`;
  await applyStore(name, data);
  return { name, args: ["--kubeconfig", integrationCluster().kubeconfig, "--uuid", uuid] };
}

describe("the CLI with processIO()", () => {
  it("prints the store on stdout and exits 0", async () => {
    const { name, args } = await cliStore({ "cap-v2-a": "1" });
    const out = capture(process.stdout);
    const err = capture(process.stderr);
    expect(await main(["store", ...args, "-o", "json"], processIO())).toBe(EXIT.OK);
    expect(err).toEqual([]);
    expect(JSON.parse(out.join(""))).toMatchObject({
      name,
      namespace: "pepr-system",
      capabilities: { cap: { items: { a: "1" }, unmigrated: {} } },
    });
  });

  it("writes errors on stderr", async () => {
    const err = capture(process.stderr);
    const uuid = uniqueName("absent");
    const code = await main(
      ["store", "--kubeconfig", integrationCluster().kubeconfig, "--uuid", uuid],
      processIO(),
    );
    expect(code).toBe(EXIT.STORE_NOT_FOUND);
    expect(err.join("")).toMatch(
      new RegExp(
        `^hello-pepr-store-resources: PeprStore pepr-${uuid}-store: not found in namespace pepr-system; PeprStores in pepr-system: .*\n$`,
      ),
    );
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`watches until ${signal}, then exits 0 and leaves no signal listener`, async () => {
      const { name, args } = await cliStore({ "cap-v2-a": "1" });
      const out = capture(process.stdout);
      const err = capture(process.stderr);
      const before = signalListeners();
      const exited = main(["store", "--watch", ...args, "-o", "json"], processIO());
      await waitFor("the watch to start", () => (err.length > 0 ? true : undefined));
      expect(err[0]).toMatch(
        new RegExp(
          `^hello-pepr-store-resources: watching PeprStore pepr-system/${name} from resourceVersion \\d+; stop with Ctrl-C\n$`,
        ),
      );
      expect(signalListeners()).toBe(before + 2);
      process.emit(signal, signal);
      expect(await exited).toBe(EXIT.OK);
      expect(signalListeners()).toBe(before);
      expect(out.map(line => JSON.parse(line))).toMatchObject([
        { type: "added", capability: "cap", key: "a", value: "1" },
      ]);
    });
  }

  it("defaults to this package's module uuid", () => {
    expect(processIO().defaultUUID()).toBe("hello-pepr-store-resources");
  });
});
