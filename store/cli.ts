// The CLI: `hello-pepr-store-resources store [options]` prints the module's Pepr Store as its
// capabilities see it. bin/hello-pepr-store-resources.cjs runs `run()` from the compiled copy.
import { parseArgs, types } from "node:util";

import { StoreError, StoreErrorCode } from "./errors";
import { OUTPUT_FORMATS, OutputFormat, formatChange, formatSnapshot } from "./format";
import { PACKAGE_NAME, moduleUUID } from "./contract";
import { readStore, watchStore } from "./read";

/** The CLI's exit codes. */
export const EXIT = {
  /** Printed the store, or the watch was stopped by SIGINT/SIGTERM. */
  OK: 0,
  /** Anything else: an unexpected API error or a bug. */
  FAILURE: 1,
  /** Bad command line. */
  USAGE: 2,
  /** No usable kubeconfig, or the API server does not answer. */
  NO_CLUSTER: 3,
  /** The PeprStore CRD (peprstores.pepr.dev) is not installed. */
  CRD_NOT_INSTALLED: 4,
  /** The module's PeprStore does not exist; the message lists the ones that do. */
  STORE_NOT_FOUND: 5,
  /** --capability names a capability the store does not have; the message lists those it has. */
  UNKNOWN_CAPABILITY: 6,
  /** The credentials were rejected (401) or may not get/list/watch PeprStores (403). */
  PERMISSION_DENIED: 7,
} as const;

/** The exit code for each {@link StoreError} code. */
export const EXIT_BY_ERROR: Record<StoreErrorCode, number> = {
  KUBECONFIG: EXIT.NO_CLUSTER,
  UNREACHABLE: EXIT.NO_CLUSTER,
  CRD_NOT_INSTALLED: EXIT.CRD_NOT_INSTALLED,
  STORE_NOT_FOUND: EXIT.STORE_NOT_FOUND,
  UNKNOWN_CAPABILITY: EXIT.UNKNOWN_CAPABILITY,
  UNAUTHORIZED: EXIT.PERMISSION_DENIED,
  PERMISSION_DENIED: EXIT.PERMISSION_DENIED,
  API_ERROR: EXIT.FAILURE,
};

/** The one-line synopsis, printed with usage errors. */
export const SYNOPSIS = `Usage: ${PACKAGE_NAME} store [--capability NAME] [--watch] [-o table|json|yaml] [--kubeconfig PATH] [--context NAME] [--uuid UUID]`;

/**
 * The full help text.
 *
 * @param uuid - the default module uuid to show
 * @returns the text, ending with a newline
 */
export function helpText(uuid: string): string {
  return `${SYNOPSIS}

Prints the module's Pepr Store as its capabilities see it, decoded from the PeprStore
pepr-<uuid>-store in namespace pepr-system: the prefix <capability>-v2- is stripped, keys of
the format before v2 are listed as unmigrated, Pepr's placeholder is hidden.

Options:
  -c, --capability NAME  only this capability
  -w, --watch            print one line per added, changed or removed key as it arrives,
                         until SIGINT or SIGTERM (the keys already there first, as added)
  -o, --output FORMAT    table (default), json or yaml
      --kubeconfig PATH  kubeconfig file(s) (default: $KUBECONFIG, then ~/.kube/config)
      --context NAME     kubeconfig context (default: its current-context)
      --uuid UUID        module uuid (default: ${uuid}, from package.json)
  -h, --help             show this help

Exit codes:
  ${EXIT.OK}  the store was printed, or the watch was stopped by SIGINT/SIGTERM
  ${EXIT.FAILURE}  unexpected error
  ${EXIT.USAGE}  bad usage
  ${EXIT.NO_CLUSTER}  no usable kubeconfig, or the API server does not answer
  ${EXIT.CRD_NOT_INSTALLED}  the PeprStore CRD (peprstores.pepr.dev) is not installed
  ${EXIT.STORE_NOT_FOUND}  the module's PeprStore does not exist (the message lists those that do)
  ${EXIT.UNKNOWN_CAPABILITY}  unknown capability (the message lists those in the store)
  ${EXIT.PERMISSION_DENIED}  permission denied: credentials rejected (401), or get/list/watch forbidden (403)
`;
}

/** A bad command line; the message says what is wrong. */
export class UsageError extends Error {}

/** The parsed command line. */
export interface CliArgs {
  /** `help` for -h/--help. */
  command: "store" | "help";
  capability?: string;
  watch: boolean;
  output: OutputFormat;
  kubeconfig?: string;
  context?: string;
  uuid?: string;
}

const OPTIONS = {
  capability: { type: "string", short: "c" },
  watch: { type: "boolean", short: "w" },
  output: { type: "string", short: "o" },
  kubeconfig: { type: "string" },
  context: { type: "string" },
  uuid: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Parses the command line (without `node` and the script).
 *
 * @param argv - the arguments, e.g. `["store", "-o", "json"]`
 * @returns the parsed arguments
 * @throws UsageError naming the bad argument
 */
export function parseCliArgs(argv: readonly string[]): CliArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(parseArgsMessage(err), { cause: err });
  }
  const { values, positionals } = parsed;
  if (values.help) return { command: "help", watch: false, output: "table" };
  if (positionals.length === 0) throw new UsageError("missing command: store");
  if (positionals[0] !== "store") throw new UsageError(`unknown command "${positionals[0]}"`);
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);

  const output = values.output ?? "table";
  if (!isOutputFormat(output)) {
    throw new UsageError(
      `-o/--output must be one of ${OUTPUT_FORMATS.join(", ")}, not "${output}"`,
    );
  }
  for (const name of ["capability", "kubeconfig", "context", "uuid"] as const) {
    if (values[name] === "") throw new UsageError(`--${name} must not be empty`);
  }
  return {
    command: "store",
    watch: values.watch ?? false,
    output,
    ...(values.capability !== undefined ? { capability: values.capability } : {}),
    ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
    ...(values.context !== undefined ? { context: values.context } : {}),
    ...(values.uuid !== undefined ? { uuid: values.uuid } : {}),
  };
}

function isOutputFormat(value: string): value is OutputFormat {
  return (OUTPUT_FORMATS as readonly string[]).includes(value);
}

/** node:util parseArgs' errors, shortened: its messages explain `--` at length. */
function parseArgsMessage(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  // isNativeError, not instanceof: under Jest, node:util's errors come from another realm
  const message = types.isNativeError(err) ? err.message : String(err);
  const option = /'(-[^']*)'/.exec(message)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option) return `unknown option ${option}`;
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && option) {
    const name = option.split(",").pop()?.replace("<value>", "").trim();
    return message.includes("argument missing") ? `option ${name} needs a value` : message;
  }
  return message;
}

/** What the CLI talks to; `processIO()` for the real thing, fakes in tests. */
export interface CliIO {
  /** Writes to stdout. */
  out(text: string): void;
  /** Writes to stderr. */
  err(text: string): void;
  readStore: typeof readStore;
  watchStore: typeof watchStore;
  /** Resolves with the signal's name on the first SIGINT or SIGTERM after the call. */
  stopSignal(): Promise<string>;
  /** The default module uuid, for --help. */
  defaultUUID(): string;
}

/**
 * Runs the CLI.
 *
 * @param argv - the arguments (without `node` and the script)
 * @param io - streams, the library functions and signals
 * @returns the exit code, one of {@link EXIT}
 */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  let args: CliArgs;
  try {
    args = parseCliArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`${PACKAGE_NAME}: ${err.message}\n${SYNOPSIS}\n`);
    return EXIT.USAGE;
  }
  if (args.command === "help") {
    io.out(helpText(io.defaultUUID()));
    return EXIT.OK;
  }

  const options = {
    ...(args.capability !== undefined ? { capability: args.capability } : {}),
    ...(args.kubeconfig !== undefined ? { kubeconfig: args.kubeconfig } : {}),
    ...(args.context !== undefined ? { context: args.context } : {}),
    ...(args.uuid !== undefined ? { uuid: args.uuid } : {}),
  };
  try {
    if (!args.watch) {
      io.out(formatSnapshot(await io.readStore(options), args.output));
      return EXIT.OK;
    }
    const signal = io.stopSignal();
    const watch = await io.watchStore(
      {
        ...options,
        onWarning: warning => io.err(`${PACKAGE_NAME}: warning: ${warning.message}\n`),
      },
      change => io.out(formatChange(change, args.output)),
    );
    const { initial } = watch;
    io.err(
      `${PACKAGE_NAME}: watching PeprStore ${initial.namespace}/${initial.name} from resourceVersion ${initial.resourceVersion}; stop with Ctrl-C\n`,
    );
    const ended = await Promise.race([
      signal.then(name => ({ signal: name })),
      watch.done.then(
        () => ({ error: undefined }),
        (error: unknown) => ({ error }),
      ),
    ]);
    watch.stop();
    if ("error" in ended && ended.error !== undefined) throw ended.error;
    return EXIT.OK;
  } catch (err) {
    if (err instanceof StoreError) {
      io.err(`${PACKAGE_NAME}: ${err.message}\n`);
      return EXIT_BY_ERROR[err.code];
    }
    io.err(
      `${PACKAGE_NAME}: unexpected error: ${err instanceof Error ? err.stack : String(err)}\n`,
    );
    return EXIT.FAILURE;
  }
}

/**
 * The real streams, the library and the process's signals.
 *
 * @returns the CliIO of this process
 */
export function processIO(): CliIO {
  return {
    out: text => void process.stdout.write(text),
    err: text => void process.stderr.write(text),
    readStore,
    watchStore,
    stopSignal: () =>
      new Promise(resolve => {
        const on = (signal: NodeJS.Signals): void => {
          process.off("SIGINT", on);
          process.off("SIGTERM", on);
          resolve(signal);
        };
        process.on("SIGINT", on);
        process.on("SIGTERM", on);
      }),
    defaultUUID: moduleUUID,
  };
}

/**
 * Runs the CLI in this process and exits with its code once stdout and stderr are flushed
 * (kubernetes-fluent-client's HTTP agents keep idle connections open, so the process would not
 * end by itself).
 *
 * @param argv - the arguments (default: this process's)
 */
export async function run(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const code = await main(argv, processIO());
  const flush = (stream: NodeJS.WriteStream): Promise<void> =>
    new Promise(resolve => stream.write("", () => resolve()));
  await Promise.all([flush(process.stdout), flush(process.stderr)]);
  process.exit(code);
}
