// Waiting with a deadline: every wait names what it waited for, so a timeout says what failed.

/** Default deadline of {@link waitFor}, in milliseconds. */
export const DEFAULT_WAIT_MS = 30_000;
/** Default pause between two checks of {@link waitFor}, in milliseconds. */
export const DEFAULT_POLL_MS = 200;

/** Thrown when a wait reaches its deadline. */
export class TimeoutError extends Error {}

/**
 * Calls `check` until it returns a value other than `undefined`, or the deadline passes.
 *
 * @param what - what is awaited, for the error message ("PeprStore with key a")
 * @param check - returns the awaited value, or `undefined` to try again; errors are retried
 * @param timeoutMs - deadline (default {@link DEFAULT_WAIT_MS})
 * @returns the first value `check` returned
 * @throws TimeoutError naming `what`, the deadline and the last error seen
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = DEFAULT_WAIT_MS,
  pollMs = DEFAULT_POLL_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const why = last instanceof Error ? `: ${last.message}` : "";
      throw new TimeoutError(`timeout waiting for ${what} after ${timeoutMs}ms${why}`, {
        cause: last,
      });
    }
    await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())));
  }
}

/** Resolves after `ms` milliseconds. Only for pacing polls, never as a test's wait. */
export function sleep(ms: number): Promise<void> {
  return new Promise(resolve => setTimeout(resolve, ms));
}

/** Milliseconds elapsed since `start` (a `Date.now()` value), as seconds with one decimal. */
export function seconds(start: number): string {
  return ((Date.now() - start) / 1000).toFixed(1);
}
