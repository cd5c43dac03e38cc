/**
 * When to look at an upstream task next. Young tasks are checked often, old ones less:
 * a tenth of the task's age, kept within [MIN, MAX] so that a finished video is noticed
 * within about a tenth of its making time, and no task is checked more often than every
 * 2 s. An upstream's Retry-After is honoured. A little jitter keeps tasks submitted
 * together from being checked together for ever.
 */
export const MIN_CHECK_MS = 2_000;
export const MAX_CHECK_MS = 30_000;

export function nextCheckDelay(ageMs: number, retryAfterMs: number | null = null, random: () => number = Math.random): number {
  const base = Math.min(MAX_CHECK_MS, Math.max(MIN_CHECK_MS, ageMs / 10));
  // Whole milliseconds: times are integers in every store (PostgreSQL's bigint refuses a fraction).
  const jittered = Math.round(base * (0.9 + 0.2 * random()));
  return Math.max(MIN_CHECK_MS, jittered, retryAfterMs ?? 0);
}

/** Backoff after a failed step: 2, 4, 8… seconds, capped at a minute. */
export function retryDelay(failures: number, retryAfterMs: number | null = null): number {
  return Math.max(Math.min(60_000, 1000 * 2 ** failures), retryAfterMs ?? 0);
}
