// The one way tests wait for something that happens on its own time (a child's output line, a socket closing, a
// background delivery): poll a check until it holds, or fail naming what was awaited and, optionally, what was
// seen instead. A wait is never an assertion about speed: the deadline only turns a hang into a failure.

export interface WaitOptions {
  /** How long before giving up (default 10 s). */
  timeoutMs?: number;
  /** Pause between checks (default 25 ms). */
  intervalMs?: number;
  /** What was seen instead, for the failure message. */
  explain?: () => string | Promise<string>;
}

/**
 * Resolves with the check's first truthy value (a match, a found row, `true`). A check that throws ends the wait
 * with its error (a child that exited will never print the line).
 */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  o: WaitOptions = {},
): Promise<Exclude<T, false | null | undefined | 0 | ''>> {
  const deadline = Date.now() + (o.timeoutMs ?? 10_000);
  for (;;) {
    const v = await check();
    if (v) return v as Exclude<T, false | null | undefined | 0 | ''>;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${o.explain ? `: ${await o.explain()}` : ''}`);
    await new Promise((r) => setTimeout(r, o.intervalMs ?? 25));
  }
}
