// The CLI without a cluster: argument parsing, the output formats, and the exit code and message
// for each outcome, with readStore/watchStore replaced by fakes.
import { parse as parseYaml } from "yaml";

import { EXIT, SYNOPSIS, UsageError, main, parseCliArgs, run, type CliIO } from "../../store/cli";
import {
  ApiError,
  ClusterUnreachableError,
  CrdNotInstalledError,
  KubeconfigError,
  PermissionDeniedError,
  StoreError,
  StoreNotFoundError,
  UnauthorizedError,
  UnknownCapabilityError,
} from "../../store/errors";
import {
  changeDocument,
  displayText,
  formatChange,
  formatSnapshot,
  formatTable,
} from "../../store/format";
import type { StoreChangeEvent, StoreSnapshot, StoreWatch } from "../../store/read";

const CAP = "hello-pepr-store-resources";

/** The store after `observe` was created, as readStore returns it. */
const observed: StoreSnapshot = {
  name: "pepr-hello-pepr-store-resources-store",
  namespace: "pepr-system",
  resourceVersion: "241",
  lastFlush: new Date("2026-11-25T14:03:01.277Z"),
  capabilities: {
    [CAP]: { items: { a: "1", b: "2", c: "3", "https://observed": "yay" }, unmigrated: {} },
  },
  unrecognized: {},
};

const OBSERVED_TABLE = [
  "PeprStore pepr-system/pepr-hello-pepr-store-resources-store (resourceVersion 241), last flush 2026-11-25T14:03:01.277Z",
  "",
  "CAPABILITY                  KEY               VALUE",
  "hello-pepr-store-resources  a                 1",
  "hello-pepr-store-resources  b                 2",
  "hello-pepr-store-resources  c                 3",
  "hello-pepr-store-resources  https://observed  yay",
  "",
].join("\n");

describe("parseCliArgs", () => {
  it("defaults to the table and no watch", () => {
    expect(parseCliArgs(["store"])).toStrictEqual({
      command: "store",
      watch: false,
      output: "table",
    });
  });

  it("reads every option, long and short", () => {
    const long = [
      "store",
      "--capability",
      "cap",
      "--watch",
      "--output",
      "yaml",
      "--kubeconfig",
      "/k",
      "--context",
      "ctx",
      "--uuid",
      "u",
    ];
    const expected = {
      command: "store",
      capability: "cap",
      watch: true,
      output: "yaml",
      kubeconfig: "/k",
      context: "ctx",
      uuid: "u",
    };
    expect(parseCliArgs(long)).toStrictEqual(expected);
    expect(
      parseCliArgs([
        "store",
        "-c",
        "cap",
        "-w",
        "-o",
        "yaml",
        "--kubeconfig=/k",
        "--context=ctx",
        "--uuid=u",
      ]),
    ).toStrictEqual(expected);
  });

  it("recognises --help anywhere", () => {
    const help = { command: "help", watch: false, output: "table" };
    expect(parseCliArgs(["--help"])).toStrictEqual(help);
    expect(parseCliArgs(["store", "-w", "-o", "json", "-h"])).toStrictEqual(help);
  });

  it.each([
    [[], "missing command: store"],
    [["stor"], 'unknown command "stor"'],
    [["store", "extra"], 'unexpected argument "extra"'],
    [["store", "--bogus"], "unknown option --bogus"],
    [["store", "-x"], "unknown option -x"],
    [["store", "-o"], "option --output needs a value"],
    [["store", "--capability"], "option --capability needs a value"],
    [["store", "-o", "xml"], '-o/--output must be one of table, json, yaml, not "xml"'],
    [["store", "--capability="], "--capability must not be empty"],
    [["store", "--uuid", ""], "--uuid must not be empty"],
    [["store", "--kubeconfig="], "--kubeconfig must not be empty"],
    [["store", "--context", ""], "--context must not be empty"],
    [["store", "--watch=yes"], "Option '-w, --watch' does not take an argument"],
  ])("rejects %j: %s", (argv, message) => {
    let thrown: unknown;
    try {
      parseCliArgs(argv);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(UsageError);
    expect((thrown as UsageError).message).toBe(message);
  });

  it("keeps node:util's error as the cause", () => {
    let thrown: unknown;
    try {
      parseCliArgs(["store", "--bogus"]);
    } catch (err) {
      thrown = err;
    }
    expect((thrown as UsageError).cause).toMatchObject({ code: "ERR_PARSE_ARGS_UNKNOWN_OPTION" });
  });
});

describe("formatTable", () => {
  it("prints the name, resourceVersion, last flush, then capability, key and value", () => {
    expect(formatTable(observed)).toBe(OBSERVED_TABLE);
  });

  it("says so when there are no keys or no flush label", () => {
    const empty = {
      ...observed,
      lastFlush: null,
      capabilities: { [CAP]: { items: {}, unmigrated: {} } },
    };
    expect(formatTable(empty)).toBe(
      "PeprStore pepr-system/pepr-hello-pepr-store-resources-store (resourceVersion 241), last flush unknown (no pepr.dev-cacheID label)\n\nNo keys.\n",
    );
  });

  it("lists unmigrated and unrecognized keys in sections of their own", () => {
    const mixed: StoreSnapshot = {
      ...observed,
      capabilities: { [CAP]: { items: { a: "1" }, unmigrated: { testing: "migrated" } } },
      unrecognized: { weird: "w", odd: "o" },
    };
    expect(formatTable(mixed).split("\n").slice(2)).toEqual([
      "CAPABILITY                  KEY  VALUE",
      "hello-pepr-store-resources  a    1",
      "",
      "Unmigrated keys (format before v2; Pepr migrates them when the module starts):",
      "CAPABILITY                  KEY      VALUE",
      "hello-pepr-store-resources  testing  migrated",
      "",
      "Keys that match no capability:",
      "KEY    VALUE",
      "odd    o",
      "weird  w",
      "",
    ]);
  });

  it("aligns unicode by code point and quotes what would be invisible", () => {
    const odd: StoreSnapshot = {
      ...observed,
      capabilities: {
        c: { items: { "": "empty key", ключ: "", "x\ny": " pad", '"q': "é" }, unmigrated: {} },
      },
    };
    expect(formatTable(odd).split("\n").slice(2, -1)).toEqual([
      "CAPABILITY  KEY     VALUE",
      'c           ""      empty key',
      'c           "\\"q"   é',
      'c           "x\\ny"  " pad"',
      'c           ключ    ""',
    ]);
  });
});

describe("displayText", () => {
  it.each([
    ["plain", "plain"],
    ["with space", "with space"],
    ["", '""'],
    [" lead", '" lead"'],
    ["tab\there", '"tab\\there"'],
    ['"quoted"', '"\\"quoted\\""'],
    ["del\u007f", '"del\u007f"'],
    ["line\u2028separator", '"line\u2028separator"'],
    ["paragraph\u2029separator", '"paragraph\u2029separator"'],
  ])("shows %j as %s", (text, shown) => {
    expect(displayText(text)).toBe(shown);
  });
});

describe("formatSnapshot", () => {
  it("prints JSON with lastFlush as an ISO string", () => {
    expect(JSON.parse(formatSnapshot(observed, "json"))).toEqual({
      name: "pepr-hello-pepr-store-resources-store",
      namespace: "pepr-system",
      resourceVersion: "241",
      lastFlush: "2026-11-25T14:03:01.277Z",
      capabilities: {
        [CAP]: { items: { a: "1", b: "2", c: "3", "https://observed": "yay" }, unmigrated: {} },
      },
      unrecognized: {},
    });
  });

  it("prints a missing last flush as null", () => {
    expect(JSON.parse(formatSnapshot({ ...observed, lastFlush: null }, "json"))).toMatchObject({
      lastFlush: null,
    });
  });

  it("prints YAML that keeps values strings", () => {
    const text = formatSnapshot(observed, "yaml");
    expect(text).toContain('      a: "1"\n');
    expect(parseYaml(text)).toEqual(JSON.parse(formatSnapshot(observed, "json")));
  });
});

describe("formatChange", () => {
  const at = new Date("2026-11-25T14:03:05.000Z");
  const change = (c: Partial<StoreChangeEvent>): StoreChangeEvent => ({
    type: "added",
    capability: CAP,
    key: "a",
    value: "1",
    unmigrated: false,
    time: at,
    resourceVersion: "242",
    ...c,
  });

  it("prints one timestamped line per change", () => {
    expect(formatChange(change({}), "table")).toBe(
      "2026-11-25T14:03:05.000Z added   hello-pepr-store-resources a=1\n",
    );
    expect(formatChange(change({ type: "changed", value: "2", previous: "1" }), "table")).toBe(
      "2026-11-25T14:03:05.000Z changed hello-pepr-store-resources a=2 (was 1)\n",
    );
    expect(
      formatChange(
        change({ type: "removed", value: undefined, previous: "", unmigrated: true }),
        "table",
      ),
    ).toBe('2026-11-25T14:03:05.000Z removed hello-pepr-store-resources a (was "") [unmigrated]\n');
  });

  it("quotes a key containing =", () => {
    expect(formatChange(change({ key: "x=y", value: "z" }), "table")).toBe(
      '2026-11-25T14:03:05.000Z added   hello-pepr-store-resources "x=y"=z\n',
    );
  });

  it("has value and previous in the JSON/YAML document only where they apply", () => {
    const common = { time: "2026-11-25T14:03:05.000Z", capability: CAP, key: "a" };
    const rest = { unmigrated: false, resourceVersion: "242" };
    expect(changeDocument(change({}))).toStrictEqual({
      ...common,
      type: "added",
      value: "1",
      ...rest,
    });
    expect(changeDocument(change({ type: "changed", value: "2", previous: "1" }))).toStrictEqual({
      ...common,
      type: "changed",
      value: "2",
      previous: "1",
      ...rest,
    });
    expect(
      changeDocument(change({ type: "removed", value: undefined, previous: "2" })),
    ).toStrictEqual({ ...common, type: "removed", previous: "2", ...rest });
  });

  it("prints one JSON object per line, or one YAML document per change", () => {
    const doc = {
      time: "2026-11-25T14:03:05.000Z",
      type: "added",
      capability: CAP,
      key: "a",
      value: "1",
      unmigrated: false,
      resourceVersion: "242",
    };
    expect(formatChange(change({}), "json")).toBe(`${JSON.stringify(doc)}\n`);
    const yaml = formatChange(change({}), "yaml");
    expect(yaml.startsWith("---\n")).toBe(true);
    expect(parseYaml(yaml)).toEqual(doc);
  });
});

/** A CliIO that records output and answers with the given fakes. */
function fakeIO(overrides: Partial<CliIO> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = {
    out: text => void out.push(text),
    err: text => void err.push(text),
    readStore: jest.fn(() => Promise.resolve(observed)),
    watchStore: jest.fn(() => Promise.reject(new Error("watchStore not expected"))),
    stopSignal: () => new Promise<string>(() => undefined),
    defaultUUID: () => "hello-pepr-store-resources",
    ...overrides,
  };
  return { io, out: () => out.join(""), err: () => err.join("") };
}

describe("main", () => {
  it("prints the table and exits 0", async () => {
    const { io, out, err } = fakeIO();
    expect(await main(["store"], io)).toBe(EXIT.OK);
    expect(out()).toBe(OBSERVED_TABLE);
    expect(err()).toBe("");
  });

  it("passes the options to readStore", async () => {
    const { io } = fakeIO();
    const argv = ["store", "-c", CAP, "--kubeconfig", "/k", "--context", "ctx", "--uuid", "u"];
    await main(argv, io);
    await main(["store"], io);
    expect(jest.mocked(io.readStore).mock.calls).toStrictEqual([
      [{ capability: CAP, kubeconfig: "/k", context: "ctx", uuid: "u" }],
      [{}],
    ]);
  });

  it("exits 2 with the problem and the synopsis on bad usage", async () => {
    const { io, out, err } = fakeIO();
    expect(await main(["store", "--bogus"], io)).toBe(EXIT.USAGE);
    expect(err()).toBe(`hello-pepr-store-resources: unknown option --bogus\n${SYNOPSIS}\n`);
    expect(out()).toBe("");
  });

  it("prints the help on stdout and exits 0", async () => {
    const { io, out } = fakeIO();
    expect(await main(["--help"], io)).toBe(EXIT.OK);
    expect(out().split("\n")[0]).toBe(
      "Usage: hello-pepr-store-resources store [--capability NAME] [--watch] [-o table|json|yaml] [--kubeconfig PATH] [--context NAME] [--uuid UUID]",
    );
    expect(out()).toContain("default: hello-pepr-store-resources, from package.json");
  });

  const failures: [StoreError, number][] = [
    [new KubeconfigError("no kubeconfig"), 3],
    [new ClusterUnreachableError("cannot reach", "https://127.0.0.1:1"), 3],
    [new CrdNotInstalledError("no CRD"), 4],
    [new StoreNotFoundError("not found", ["other"]), 5],
    [new UnknownCapabilityError("unknown capability", [CAP]), 6],
    [new UnauthorizedError("unauthorized"), 7],
    [new PermissionDeniedError("denied", "get", "peprstores.pepr.dev", "pepr-system"), 7],
    [new ApiError("HTTP 500", 500), 1],
  ];

  it.each(failures)("exits with the code of %s", async (error, code) => {
    const { io, out, err } = fakeIO({ readStore: () => Promise.reject(error) });
    expect(await main(["store"], io)).toBe(code);
    expect(err()).toBe(`hello-pepr-store-resources: ${error.message}\n`);
    expect(out()).toBe("");
  });

  it("gives the codes 0 to 7 one meaning each", () => {
    expect(Object.values(EXIT)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it("exits 1 naming anything thrown that is not an Error", async () => {
    const { io, err } = fakeIO({ readStore: () => Promise.reject("boom") });
    expect(await main(["store"], io)).toBe(EXIT.FAILURE);
    expect(err()).toBe("hello-pepr-store-resources: unexpected error: boom\n");
  });

  it("exits 1 with the stack on an unexpected error", async () => {
    const { io, err } = fakeIO({ readStore: () => Promise.reject(new TypeError("boom")) });
    expect(await main(["store"], io)).toBe(EXIT.FAILURE);
    expect(err()).toMatch(
      /^hello-pepr-store-resources: unexpected error: TypeError: boom\n {4}at /,
    );
  });
});

describe("main --watch", () => {
  /** A watchStore fake that reports `changes`, then stays connected until stopped. */
  function fakeWatch(
    changes: StoreChangeEvent[],
    done: Promise<void> = new Promise(() => undefined),
  ) {
    const stop = jest.fn();
    const watchStore: CliIO["watchStore"] = async (_options, onChange) => {
      changes.forEach(onChange);
      const watch: StoreWatch = { initial: observed, stop, done };
      return watch;
    };
    return { watchStore, stop };
  }
  const added: StoreChangeEvent = {
    type: "added",
    capability: CAP,
    key: "a",
    value: "1",
    unmigrated: false,
    time: new Date("2026-11-25T14:03:05.000Z"),
    resourceVersion: "242",
  };

  it("prints each change, says what it watches, and exits 0 on SIGTERM", async () => {
    const { watchStore, stop } = fakeWatch([added]);
    const { io, out, err } = fakeIO({ watchStore, stopSignal: () => Promise.resolve("SIGTERM") });
    expect(await main(["store", "--watch"], io)).toBe(EXIT.OK);
    expect(out()).toBe("2026-11-25T14:03:05.000Z added   hello-pepr-store-resources a=1\n");
    expect(err()).toBe(
      "hello-pepr-store-resources: watching PeprStore pepr-system/pepr-hello-pepr-store-resources-store from resourceVersion 241; stop with Ctrl-C\n",
    );
    expect(stop).toHaveBeenCalled();
  });

  it("exits with the error's code when the watch cannot go on", async () => {
    const denied = new PermissionDeniedError(
      "permission denied: cannot watch",
      "watch",
      "peprstores.pepr.dev",
      "pepr-system",
    );
    const { watchStore } = fakeWatch([], Promise.reject(denied));
    const { io, err } = fakeIO({ watchStore });
    expect(await main(["store", "-w"], io)).toBe(EXIT.PERMISSION_DENIED);
    expect(err().split("\n").slice(1)).toEqual([
      "hello-pepr-store-resources: permission denied: cannot watch",
      "",
    ]);
  });

  it("exits 0 when the watch ends by itself", async () => {
    const { watchStore, stop } = fakeWatch([], Promise.resolve());
    const { io, err } = fakeIO({ watchStore });
    expect(await main(["store", "-w"], io)).toBe(EXIT.OK);
    expect(err()).toBe(
      "hello-pepr-store-resources: watching PeprStore pepr-system/pepr-hello-pepr-store-resources-store from resourceVersion 241; stop with Ctrl-C\n",
    );
    expect(stop).toHaveBeenCalledTimes(1);
  });

  it("prints warnings on stderr and keeps watching", async () => {
    const watchStore: CliIO["watchStore"] = async options => {
      options.onWarning?.(new Error("connection lost, retrying"));
      return { initial: observed, stop: () => undefined, done: new Promise(() => undefined) };
    };
    const { io, err } = fakeIO({ watchStore, stopSignal: () => Promise.resolve("SIGINT") });
    expect(await main(["store", "-w"], io)).toBe(EXIT.OK);
    expect(err().split("\n")[0]).toBe(
      "hello-pepr-store-resources: warning: connection lost, retrying",
    );
  });
});

describe("run", () => {
  /**
   * Records, in order, what run() writes to stdout and stderr, when each write's callback fires
   * (a tick later, as a real stream's does) and the code process.exit() is called with.
   */
  function recordProcess() {
    const events: string[] = [];
    for (const [name, stream] of [
      ["stdout", process.stdout],
      ["stderr", process.stderr],
    ] as const) {
      jest.spyOn(stream, "write").mockImplementation(((
        chunk: string,
        done?: (err?: Error | null) => void,
      ) => {
        events.push(`${name} ${JSON.stringify(chunk)}`);
        if (typeof done === "function")
          setImmediate(() => (events.push(`${name} flushed`), done()));
        return true;
      }) as typeof stream.write);
    }
    jest.spyOn(process, "exit").mockImplementation(((code?: number) => {
      events.push(`exit ${code}`);
    }) as typeof process.exit);
    return events;
  }

  it("runs main() with the process's arguments and exits with its code once the streams are flushed", async () => {
    const events = recordProcess();
    const argv = process.argv;
    process.argv = ["node", "hello-pepr-store-resources", "store", "-o", "xml"];
    try {
      await run();
    } finally {
      process.argv = argv;
    }
    expect(events).toEqual([
      `stderr ${JSON.stringify(`hello-pepr-store-resources: -o/--output must be one of table, json, yaml, not "xml"\n${SYNOPSIS}\n`)}`,
      'stdout ""',
      'stderr ""',
      "stdout flushed",
      "stderr flushed",
      "exit 2",
    ]);
  });

  it("prints the help on stdout and exits 0", async () => {
    const events = recordProcess();
    await run(["--help"]);
    expect(events.slice(1)).toEqual([
      'stdout ""',
      'stderr ""',
      "stdout flushed",
      "stderr flushed",
      "exit 0",
    ]);
    expect(events[0].startsWith(`stdout ${JSON.stringify(`${SYNOPSIS}\n`).slice(0, -1)}`)).toBe(
      true,
    );
  });
});
