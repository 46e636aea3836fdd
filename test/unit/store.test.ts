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

/**
 * Loads the capability and connects a recording sender to the real Pepr Storage behind its
 * `Store`, the way StoreController does with `registerStore()` and `registerSender()`.
 */
async function setUp(): Promise<{
  run: () => Promise<void>;
  receive: (data: Record<string, string>) => void;
  sent: SentWrite[];
  observedLogs: () => unknown[];
}> {
  const { capability, logs, WatchPhase } = await loadCapability();

  const storage = capability.registerStore();
  // The Store the callback uses delegates to this very Storage instance.
  expect(capability.Store.setItem).toBe(storage.setItem);
  expect(capability.Store.setItemAndWait).toBe(storage.setItemAndWait);

  const sent: SentWrite[] = [];
  storage.registerSender((op, keys, value) => {
    sent.push([op, keys, value]);
  });

  const [binding] = capability.bindings;
  const watchCallback = binding.watchCallback;
  if (watchCallback === undefined) {
    throw new Error("binding 0 of hello-pepr-store-resources has no watchCallback");
  }

  return {
    run: async () => watchCallback(observeConfigMap, WatchPhase.Added),
    receive: data => storage.receive(data),
    sent,
    observedLogs: () =>
      logs.filter(r => r.msg === "observed").map(({ level, msg }) => ({ level, msg })),
  };
}

describe("observeWatch against Pepr's Storage", () => {
  // Storage.setItemAndWait arms a 15 s timer. Fake timers let the timeout test jump to it and
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

  it("logs observed only after the store reports https://observed back", async () => {
    const { run, receive, sent, observedLogs } = await setUp();

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

    receive(allFourInTheCR);
    await nextTurn();

    expect(result.state).toBe("resolved");
    expect(observedLogs()).toEqual([{ level: 30, msg: "observed" }]);
    expect(sent).toEqual(expectedWrites);
  });

  it("does not log observed and rejects when the key is not seen within 15 s", async () => {
    const { run, receive, sent, observedLogs } = await setUp();

    const running = run();
    const result = track(running);
    await jest.advanceTimersByTimeAsync(14_999);
    expect(result.state).toBe("pending");

    await jest.advanceTimersByTimeAsync(1);
    await expect(running).rejects.toBe(
      "MAX_WAIT_TIME elapsed: Key https://observed not seen in 15s",
    );
    expect(sent).toEqual(expectedWrites);
    expect(observedLogs()).toEqual([]);

    // The wait has unsubscribed: a late arrival of the key changes nothing.
    receive(allFourInTheCR);
    await nextTurn();
    expect(observedLogs()).toEqual([]);
  });
});
