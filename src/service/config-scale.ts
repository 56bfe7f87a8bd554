// The part of the configuration for running several instances and for scheduled operations: how often every
// active connection is health-checked (spread over the interval, a bounded number at once), the optional
// rotation policy, and how this instance names itself as a lease owner. Read with the rest of the configuration,
// problems listed together.

/** The settings this part reads (see {@link SCALE_ENV_VARS}). */
export interface ScaleSettings {
  /** Every active connection is health-checked once per this interval (0: no scheduled checks). */
  healthIntervalMs: number;
  /** Health checks one instance runs at once. */
  healthConcurrency: number;
  /** Rotate keys older than this many days, make-before-break (undefined: no rotation policy). */
  rotateAfterDays: number | undefined;
}

export const SCALE_ENV_VARS: readonly [string, string][] = [
  [
    'NOON_CONNECT_HEALTH_INTERVAL_MS',
    'health-check every active connection once per this interval, spread over it (default 21600000: 6 h; 0 = off)',
  ],
  ['NOON_CONNECT_HEALTH_CONCURRENCY', 'scheduled health checks run at once (default 4)'],
  [
    'NOON_CONNECT_ROTATE_AFTER_DAYS',
    'rotate keys older than this many days, make-before-break (default off)',
  ],
];

/**
 * A reader of integer settings: the value of `name`, or `fallback` when unset; outside `min`..`max` (or not an
 * integer) it adds the problem and gives the fallback, so every problem is listed at once.
 */
export function intSetting(
  get: (name: string) => string | undefined,
  problems: string[],
): (name: string, fallback: number, min: number, max: number) => number {
  return (name, fallback, min, max) => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}`);
      return fallback;
    }
    return n;
  };
}

export function readScaleSettings(
  get: (name: string) => string | undefined,
  problems: string[],
): ScaleSettings {
  const int = intSetting(get, problems);
  const healthIntervalMs = int('NOON_CONNECT_HEALTH_INTERVAL_MS', 6 * 3_600_000, 0, 30 * 86_400_000);
  if (healthIntervalMs !== 0 && healthIntervalMs < 1000)
    problems.push('NOON_CONNECT_HEALTH_INTERVAL_MS must be 0 (off) or at least 1000');
  const rotate = get('NOON_CONNECT_ROTATE_AFTER_DAYS');
  return {
    healthIntervalMs,
    healthConcurrency: int('NOON_CONNECT_HEALTH_CONCURRENCY', 4, 1, 64),
    rotateAfterDays: rotate === undefined ? undefined : int('NOON_CONNECT_ROTATE_AFTER_DAYS', 90, 1, 3650),
  };
}
