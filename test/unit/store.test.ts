import { API_REQUEST_TIMEOUT_MS, CONFIRM_WORST_CASE_MS } from "../../capabilities/deadlines";
import { SET_ITEM_AND_WAIT_MS } from "../../store/contract";
import { loadCapability, nextTurn, observeConfigMap, track } from "./helpers";

/** One call Pepr's Storage made to its sender: what the StoreController would queue. */
type SentWrite = [op: string, keys: string[], value: string | undefined];

/**
 * What the PeprStore watch hands this capability's Storage once the four writes reached the
 * CR: StoreController strips the "<capability>-" prefix from each CR key, and the JSON-patch
 * path `.../v2-https:~1~1observed` has become the key `v2-https://observed`.
 */
const allFourInTheCR = {
  "v2-a": "1",
  "v2-b": "2",
  "v2-c": "3",
  "v2-https://observed": "yay",
};

/** The writes the callback must send, in order, with the keys Pepr puts on the wire. */
const expectedWrites: SentWrite[] = [
  ["add", ["v2-a"], "1"],
  ["add", ["v2-b"], "2"],
  ["add", ["v2-c"], "3"],
  ["add", ["v2-https:~1~1observed"], "yay"],
];

const STORE_CR = "pepr-hello-pepr-store-resources-store";
const CAPABILITY = "hello-pepr-store-resources";

/**
 * Loads the capability and connects a recording sender to the real Pepr Storage behind its
 * `Store`, the way StoreController does with `registerStore()` and `registerSender()`. The
 * "cluster" the capability reads back from (confirm-writes' readPersisted) follows what the
 * Storage receives, unless a test sets it apart with `setCluster`.
 */
async function setUp() {
  const { capability, logs, WatchPhase, readPersisted, createStore } = await loadCapability();

  const storage = capability.registerStore();
  // The Store the callback uses delegates to this very Storage instance.
  expect(capability.Store.setItem).toBe(storage.setItem);
  expect(capability.Store.setItemAndWait).toBe(storage.setItemAndWait);

  const sent: SentWrite[] = [];
  storage.registerSender((op, keys, value) => {
    sent.push([op, keys, value]);
  });

  // What the API server holds for the capability, keys without "v2-"; null: no CR.
  let cluster: Record<string, string> | null = {};
  readPersisted.mockImplementation(async () => cluster);

  const [binding] = capability.bindings;
  const watchCallback = binding.watchCallback;
  if (watchCallback === undefined) {
    throw new Error("binding 0 of hello-pepr-store-resources has no watchCallback");
  }

  return {
    run: async () => watchCallback(observeConfigMap, WatchPhase.Added),
    /** The PeprStore watch delivers `data`, which is also what the API server now holds. */
    receive: (data: Record<string, string>) => {
      storage.receive(data);
      cluster = Object.fromEntries(
        Object.entries(data).map(([k, v]) => [k.replace(/^v2-/, ""), v]),
      );
    },
    /** Only Pepr's in-memory Store gets `data` (a stale or debounced view): not the API server. */
    receiveInMemoryOnly: (data: Record<string, string>) => storage.receive(data),
    setCluster: (data: Record<string, string> | null) => {
      cluster = data;
    },
    readPersisted,
    createStore,
    sent,
    observedLogs: () =>
      logs.filter(r => r.msg === "observed").map(({ level, msg }) => ({ level, msg })),
    // The records with this msg, without pino's time, pid and hostname.
    logs: (msg: string) =>
      logs
        .filter(r => r.msg === msg)
        .map(r =>
          Object.fromEntries(
            Object.entries(r).filter(([k]) => !["time", "pid", "hostname"].includes(k)),
          ),
        ),
  };
}

describe("observeWatch against Pepr's Storage", () => {
  // Storage.setItemAndWait arms a 15 s timer. Fake timers let the timeout tests jump to it and
  // let afterEach drop the timers of waits a test leaves pending. setImmediate stays real for
  // nextTurn().
  beforeEach(() => {
    jest.useFakeTimers({ doNotFake: ["setImmediate"] });
  });

  afterEach(() => {
    jest.clearAllTimers();
    jest.useRealTimers();
  });

  it("sends a, b, c and https://observed in order, with Pepr's v2 wire keys", async () => {
    const { run, sent } = await setUp();

    const result = track(run());
    await nextTurn();

    expect(sent).toEqual(expectedWrites);
    expect(result.state).toBe("pending");
  });

  it("logs observed only after the store reports https://observed back and the CR holds all four", async () => {
    const { run, receive, sent, observedLogs, readPersisted } = await setUp();

    const result = track(run());
    await nextTurn();
    expect(sent).toHaveLength(4);
    expect(observedLogs()).toEqual([]);

    // The first flush reached the CR without the awaited key, then with a different value.
    receive({ "v2-a": "1", "v2-b": "2", "v2-c": "3" });
    await nextTurn();
    receive({ ...allFourInTheCR, "v2-https://observed": "nay" });
    await nextTurn();
    expect(result.state).toBe("pending");
    expect(observedLogs()).toEqual([]);
    expect(readPersisted).not.toHaveBeenCalled();

    receive(allFourInTheCR);
    await nextTurn();

    expect(result.state).toBe("resolved");
    expect(readPersisted.mock.calls).toEqual([[STORE_CR, CAPABILITY]]);
    expect(observedLogs()).toEqual([{ level: 30, msg: "observed" }]);
    expect(sent).toEqual(expectedWrites);
  });

  it("re-writes every key still missing after Pepr's 15 s wait, then logs observed", async () => {
    const { run, receive, sent, logs } = await setUp();

    const result = track(run());
    // Pepr's flusher lost the writes: nothing comes back within MAX_WAIT_TIME.
    await jest.advanceTimersByTimeAsync(15_000);
    expect(result.state).toBe("pending");
    expect(logs("re-writing store keys")).toEqual([
      {
        level: 40,
        msg: "re-writing store keys",
        missing: ["a", "b", "c", "https://observed"],
        attempt: 1,
        delayMs: 1_000,
        lastError: "MAX_WAIT_TIME elapsed: Key https://observed not seen in 15s",
      },
    ]);

    // After the 1 s backoff all four are written again, each with setItemAndWait.
    await jest.advanceTimersByTimeAsync(1_000);
    expect(sent).toEqual([...expectedWrites, ...expectedWrites]);
    expect(logs("observed")).toEqual([]);

    receive(allFourInTheCR);
    await nextTurn();
    expect(result.state).toBe("resolved");
    expect(logs("observed")).toEqual([{ level: 30, msg: "observed" }]);
  });

  it("re-writes only the keys that did not land", async () => {
    const { run, receive, sent, logs } = await setUp();

    const result = track(run());
    await nextTurn();
    // https://observed arrived, b did not (a flush lost it).
    receive({ "v2-a": "1", "v2-c": "3", "v2-https://observed": "yay" });
    await nextTurn();
    // the capability's own wait succeeded: no lastError
    expect(logs("re-writing store keys")).toEqual([
      { level: 40, msg: "re-writing store keys", missing: ["b"], attempt: 1, delayMs: 1_000 },
    ]);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(sent).toEqual([...expectedWrites, ["add", ["v2-b"], "2"]]);

    receive(allFourInTheCR);
    await nextTurn();
    expect(result.state).toBe("resolved");
    expect(logs("observed")).toEqual([{ level: 30, msg: "observed" }]);
  });

  it("re-creates a deleted store CR and re-writes all four, though Pepr's stale copy has them", async () => {
    const { run, receive, receiveInMemoryOnly, setCluster, sent, logs, createStore } =
      await setUp();
    setCluster(null);

    const result = track(run());
    await nextTurn();
    // Pepr's watch hands the Storage the deleted CR's old data: setItemAndWait resolves on it.
    receiveInMemoryOnly(allFourInTheCR);
    await nextTurn();
    expect(createStore.mock.calls).toEqual([[STORE_CR]]);
    expect(logs("re-writing store keys")).toEqual([
      expect.objectContaining({ missing: ["a", "b", "c", "https://observed"], attempt: 1 }),
    ]);
    expect(logs("observed")).toEqual([]);

    setCluster({});
    await jest.advanceTimersByTimeAsync(1_000);
    expect(sent).toEqual([...expectedWrites, ...expectedWrites]);
    receive(allFourInTheCR);
    await nextTurn();
    expect(result.state).toBe("resolved");
    expect(logs("observed")).toEqual([{ level: 30, msg: "observed" }]);
  });

  it("logs no observed when the CR cannot be read, though Pepr's Store holds all four", async () => {
    const { run, receiveInMemoryOnly, readPersisted, logs } = await setUp();
    const refused = new Error("get PeprStore x: connect ECONNREFUSED 127.0.0.1:6443");
    readPersisted.mockRejectedValue(refused);

    const running = run();
    const result = track(running);
    await nextTurn();
    receiveInMemoryOnly(allFourInTheCR);
    await nextTurn();
    // three reads, 0.5 s and 1 s apart
    expect(readPersisted).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(500);
    expect(readPersisted).toHaveBeenCalledTimes(2);
    await jest.advanceTimersByTimeAsync(999);
    expect(result.state).toBe("pending");
    await jest.advanceTimersByTimeAsync(1);

    await expect(running).rejects.toThrow(
      `store writes not confirmed after 1 checks: the store CR could not be read in 3 tries: ${refused.message}`,
    );
    expect(readPersisted).toHaveBeenCalledTimes(3);
    expect(logs("store CR could not be read: retrying")).toEqual([
      {
        level: 40,
        msg: "store CR could not be read: retrying",
        err: refused.message,
        attempt: 1,
        delayMs: 500,
      },
      {
        level: 40,
        msg: "store CR could not be read: retrying",
        err: refused.message,
        attempt: 2,
        delayMs: 1_000,
      },
    ]);
    expect(logs("store writes not confirmed")).toEqual([
      {
        level: 50,
        msg: "store writes not confirmed",
        reason: `the store CR could not be read in 3 tries: ${refused.message}`,
        missing: ["a", "b", "c", "https://observed"],
        attempts: 1,
        lastError: refused.message,
      },
    ]);
    expect(logs("observed")).toEqual([]);
  });

  it("reads the CR again when a read fails, and logs observed once the API server answers", async () => {
    const { run, receive, readPersisted, logs } = await setUp();
    readPersisted.mockRejectedValueOnce(new Error("HTTP 500 Internal Server Error"));

    const result = track(run());
    await nextTurn();
    receive(allFourInTheCR);
    await nextTurn();
    expect(result.state).toBe("pending");
    await jest.advanceTimersByTimeAsync(500);

    expect(result.state).toBe("resolved");
    expect(readPersisted).toHaveBeenCalledTimes(2);
    expect(logs("observed")).toEqual([{ level: 30, msg: "observed" }]);
  });

  it("gives up no later than CONFIRM_WORST_CASE_MS when every request runs into its timeout", async () => {
    const { run, readPersisted, createStore, logs } = await setUp();
    const afterTimeout = <T>(
      settle: (resolve: (v: T) => void, reject: (e: Error) => void) => void,
    ) =>
      new Promise<T>((resolve, reject) =>
        setTimeout(() => settle(resolve, reject), API_REQUEST_TIMEOUT_MS),
      );
    // Two reads of each check time out, the third finds no CR, re-creating it takes the limit too.
    let reads = 0;
    readPersisted.mockImplementation(() =>
      afterTimeout((resolve, reject) =>
        ++reads % 3 === 0 ? resolve(null) : reject(new Error("no answer within 3000 ms")),
      ),
    );
    createStore.mockImplementation(() => afterTimeout(resolve => resolve(undefined)));

    const running = run();
    const result = track(running);
    await jest.advanceTimersByTimeAsync(CONFIRM_WORST_CASE_MS - 1);
    expect(result.state).toBe("pending");
    await jest.advanceTimersByTimeAsync(1);

    await expect(running).rejects.toThrow(
      "store writes not confirmed after 4 checks: missing a, b, c, https://observed",
    );
    expect(readPersisted).toHaveBeenCalledTimes(4 * 3);
    expect(createStore).toHaveBeenCalledTimes(4);
    expect(logs("store writes not confirmed")).toEqual([
      expect.objectContaining({
        attempts: 4,
        lastError: `MAX_WAIT_TIME elapsed: Key a not seen in ${SET_ITEM_AND_WAIT_MS / 1000}s`,
      }),
    ]);
  });

  it("re-writes all four when the CR is missing and cannot be re-created", async () => {
    const { run, setCluster, createStore, logs } = await setUp();
    setCluster(null);
    createStore.mockRejectedValue(
      new Error("create PeprStore x in pepr-system: HTTP 403 Forbidden"),
    );

    track(run());
    await jest.advanceTimersByTimeAsync(SET_ITEM_AND_WAIT_MS);
    expect(logs("store CR could not be re-created")).toEqual([
      {
        level: 40,
        msg: "store CR could not be re-created",
        err: "create PeprStore x in pepr-system: HTTP 403 Forbidden",
      },
    ]);
    expect(logs("re-writing store keys")).toEqual([
      expect.objectContaining({ missing: ["a", "b", "c", "https://observed"], attempt: 1 }),
    ]);
  });

  it("rejects naming the missing keys, and logs no observed, when 4 checks fail", async () => {
    const { run, receive, sent, logs, readPersisted } = await setUp();

    const running = run();
    const result = track(running);
    // 15 s wait, then re-writes after 1 s, 2 s and 4 s backoff, each waiting 15 s.
    await jest.advanceTimersByTimeAsync(15_000 + 1_000 + 15_000 + 2_000 + 15_000 + 4_000 + 14_999);
    expect(result.state).toBe("pending");
    await jest.advanceTimersByTimeAsync(1);

    await expect(running).rejects.toThrow(
      "store writes not confirmed after 4 checks: missing a, b, c, https://observed",
    );
    await expect(running).rejects.toMatchObject({
      name: "UnconfirmedWritesError",
      reason: "missing a, b, c, https://observed",
      missing: ["a", "b", "c", "https://observed"],
      attempts: 4,
      cause: "MAX_WAIT_TIME elapsed: Key a not seen in 15s",
    });
    expect(sent).toHaveLength(4 * 4);
    expect(readPersisted).toHaveBeenCalledTimes(4);
    expect(logs("re-writing store keys").map(r => r.delayMs)).toEqual([1_000, 2_000, 4_000]);
    expect(logs("store writes not confirmed")).toEqual([
      {
        level: 50,
        msg: "store writes not confirmed",
        reason: "missing a, b, c, https://observed",
        missing: ["a", "b", "c", "https://observed"],
        attempts: 4,
        lastError: "MAX_WAIT_TIME elapsed: Key a not seen in 15s",
      },
    ]);
    expect(logs("observed")).toEqual([]);

    // Every wait has unsubscribed: a late arrival of the keys changes nothing.
    receive(allFourInTheCR);
    await nextTurn();
    expect(logs("observed")).toEqual([]);
  });
});
