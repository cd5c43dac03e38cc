/**
 * How an upstream call went wrong, as the engine must act on it. A ProviderFailure
 * (interface.ts) ends the task; these two do not.
 */

/**
 * The upstream could not be reached or asked us to wait: 429, a 5xx, a refused or reset
 * connection, a timeout. The step is tried again later (not before `retryAfterMs`).
 * `created` says whether a submit may have made a task upstream: false only when it surely
 * did not (the connection was refused, or the upstream answered 429 or a 5xx that it
 * documents as creating nothing), so the engine may send it to another channel.
 */
export class UpstreamUnavailable extends Error {
  readonly created: boolean;
  readonly retryAfterMs: number | null;
  constructor(message: string, options: { created: boolean; retryAfterMs?: number | null; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'UpstreamUnavailable';
    this.created = options.created;
    this.retryAfterMs = options.retryAfterMs ?? null;
  }
}

/** `Retry-After` (seconds or an HTTP date) in milliseconds from `now`; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number | null {
  if (!header) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/** The task stopped being ours to submit (cancelled, deleted, taken over) before its submit was sent (UpstreamJob.beforeSend). */
export class SubmitWithdrawn extends Error {}
