// cluster/ports.cjs: the port check `npm start` runs first. A port of this test's own (picked by
// the OS), never the shared 3000.
import net from "node:net";

import { assertPortsFree, PortInUseError, portFree, WATCHER } from "../../cluster/ports.cjs";

/** Listens on a free port picked by the OS and returns the server and its port. */
async function holdPort(): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer();
  await new Promise<void>(resolve => server.listen(0, resolve));
  return { server, port: (server.address() as net.AddressInfo).port };
}

describe("the port check", () => {
  it("names the taken port and what needs it, without waiting", async () => {
    const { server, port } = await holdPort();
    try {
      const needed = { port, name: "the thing under test" };
      const failure = assertPortsFree([needed], 0);
      await expect(failure).rejects.toBeInstanceOf(PortInUseError);
      await expect(failure).rejects.toThrow(
        `port ${port} is in use; the thing under test needs it. Stop what listens there ` +
          "(another npm start, Pepr watcher or pepr dev?), or set WATCHER_PORT_WAIT_MS=<ms> to wait for it",
      );
      expect(await portFree(port)).toBe(false);
    } finally {
      await new Promise(resolve => server.close(resolve));
    }
  });

  it("passes once the port is free", async () => {
    const { server, port } = await holdPort();
    await new Promise(resolve => server.close(resolve));
    await expect(assertPortsFree([{ port, name: "x" }], 0)).resolves.toBeUndefined();
  });

  it("says the watcher needs port 3000", () => {
    expect(WATCHER).toEqual({
      port: 3000,
      name: "the Pepr watcher's HTTPS server (/healthz; the port is fixed in Pepr)",
    });
  });
});
