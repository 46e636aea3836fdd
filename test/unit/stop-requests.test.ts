// cluster/stop-requests.ts: every way a run is asked to end becomes one request with its reason.
// Signals are delivered with process.emit (the handlers Node would call, with the signal's name),
// stream errors with stream.emit; process.exit is mocked. The real signals are sent to real runs
// by test/e2e/in-cluster/run-ends.test.ts.
import {
  EXIT_AT_ONCE,
  interruptedExitCode,
  parentPid,
  StopRequests,
  watchStopRequests,
} from "../../cluster/stop-requests";

describe("stop requests", () => {
  let said: string[];
  let requests: StopRequests;

  beforeEach(() => {
    const lines: string[] = []; // this watcher's own: the earlier ones keep their stream handlers
    said = lines;
    requests = watchStopRequests(line => lines.push(line));
  });

  afterEach(() => {
    requests.dispose();
    jest.restoreAllMocks();
  });

  it("the first signal is the request, named, and said once", async () => {
    process.emit("SIGHUP", "SIGHUP");
    process.emit("SIGHUP", "SIGHUP"); // the terminal and the shell both send one
    await expect(requests.requested).resolves.toBe("SIGHUP");
    expect(requests.reason()).toBe("SIGHUP");
    expect(said).toEqual(["\nSIGHUP: stopping... (Ctrl-C again exits at once)"]);
  });

  it("a second SIGINT exits at once with 130", () => {
    const exit = jest.spyOn(process, "exit").mockImplementation((() => undefined) as never);
    process.emit("SIGINT", "SIGINT");
    expect(exit).not.toHaveBeenCalled();
    process.emit("SIGINT", "SIGINT");
    expect(exit).toHaveBeenCalledWith(EXIT_AT_ONCE);
    expect(EXIT_AT_ONCE).toBe(130);
    expect(said[1]).toBe("SIGINT again: exiting without waiting");
  });

  it("stdout closed under the run (EPIPE) is a request; later errors are absorbed", async () => {
    const epipe = Object.assign(new Error("write EPIPE"), { code: "EPIPE" });
    process.stdout.emit("error", epipe);
    process.stdout.emit("error", epipe);
    await expect(requests.requested).resolves.toBe("stdout closed");
    expect(said).toEqual(["\nstdout closed: stopping (EPIPE)"]);
  });

  it("stderr closed is a request too", async () => {
    process.stderr.emit("error", Object.assign(new Error("write EIO"), { code: "EIO" }));
    await expect(requests.requested).resolves.toBe("stderr closed");
  });

  it("no request until one comes", () => {
    expect(requests.reason()).toBeUndefined();
  });

  it("reads parent pids from /proc: ours, and none for a process that does not exist", () => {
    expect(parentPid()).toBe(process.ppid);
    expect(parentPid(2 ** 22 + 1)).toBeUndefined(); // above pid_max's ceiling
  });

  it("a run stopped before it was up exits 128 + the signal, or 0 when its reader left", () => {
    expect(
      ["SIGHUP", "SIGINT", "SIGTERM", "stdout closed", "parent gone"].map(interruptedExitCode),
    ).toEqual([129, 130, 143, 0, 0]);
  });
});
