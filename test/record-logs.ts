// Records what Pepr's pino logger (`Log`) writes, for the unit and integration tiers, which run the
// capability's code in the test process. Loads no module of its own: the caller passes `Log` and
// pino's stream symbol from the module registry of the code under test.

import type { LogRecord as WatcherLogRecord } from "../cluster/local-watcher";

/** One record of Pepr's pino logger, parsed, as a watcher's log has it but without its time. */
export type LogRecord = Omit<WatcherLogRecord, "time">;

/**
 * Records what Pepr's `Log` writes from now on (and prints nothing), until Jest restores the spy
 * after the test (`restoreMocks`).
 *
 * @param log - Pepr's Log, from the module registry of the code under test
 * @param streamSym - pino's `symbols.streamSym`
 * @returns the records, in order
 * @throws Error if the logger has no pino destination stream to record
 */
export function recordLogs(log: object, streamSym: symbol): LogRecord[] {
  const stream = (log as Record<symbol, { write(chunk: string): unknown } | undefined>)[streamSym];
  if (typeof stream?.write !== "function") {
    throw new Error("pepr Log: no pino destination stream to record");
  }
  const records: LogRecord[] = [];
  jest.spyOn(stream, "write").mockImplementation((chunk: string) => {
    const record = JSON.parse(chunk) as LogRecord;
    for (const field of ["time", "pid", "hostname"]) delete record[field];
    records.push(record);
    return true;
  });
  return records;
}
