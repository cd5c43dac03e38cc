import { FfmpegError } from '../../media/ffmpeg.ts';
import { FetchError } from '../../net/guarded-fetch.ts';
import { ProviderFailure, type ProviderStatus } from '../interface.ts';

/**
 * What a failed render means. Most failures are the input's or the request's, and the task
 * fails for good with a code that says so. A few are this machine's passing state — a full
 * disk or quota, no file handles left, an I/O hiccup — and the same render may well succeed
 * a little later: those must not end the task.
 */

/** System error codes for resources of this machine that run out for a while, or hiccup. */
const PASSING_CODES = new Set(['ENOSPC', 'EDQUOT', 'EMFILE', 'ENFILE', 'EIO', 'EAGAIN']);

/**
 * ffmpeg reports its own write errors only in words on stderr. Only the unambiguous ones:
 * "Input/output error" is also what it says for many a broken input file.
 */
const PASSING_STDERR = /No space left on device|Disk quota exceeded/i;

/** True when retrying the same render later may succeed. */
export function isRetryable(error: unknown): boolean {
  // Fetch failures already name the input's own fault (even a network EAGAIN is the server's).
  if (error instanceof ProviderFailure || error instanceof FetchError) return false;
  if (error instanceof FfmpegError && PASSING_STDERR.test(error.stderrTail)) return true;
  return errnoCodes(error).some((code) => PASSING_CODES.has(code));
}

type Failed = Extract<ProviderStatus, { state: 'failed' }>;

export const STOPPED: Failed = { state: 'failed', code: 'cancelled', message: 'The render was stopped' };

/** The terminal status for a failure that is not retried. */
export function failedStatus(error: unknown): Failed {
  if (error instanceof ProviderFailure) return { state: 'failed', code: error.code, message: error.message };
  if (error instanceof FetchError) return { state: 'failed', code: `input_${error.code}`, message: `An input could not be fetched: ${error.message}` };
  if (isAbort(error)) return STOPPED;
  return { state: 'failed', code: 'render_failed', message: 'The preview renderer could not make this video' };
}

export function isAbort(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

/**
 * The cause of a failure for the log: enough to act on (ffmpeg's own last words, the system
 * error code) and nothing a client sent that could hold a secret. Messages here come from our
 * code, the OS and ffmpeg, which only ever sees local files; fetch errors name URLs without
 * their query.
 */
export function describeFailure(error: unknown): Record<string, unknown> {
  if (error instanceof FfmpegError) {
    return { type: error.name, message: error.summary, exitCode: error.exitCode, exitSignal: error.exitSignal, stderrTail: error.stderrTail };
  }
  if (error instanceof Error) {
    const codes = errnoCodes(error);
    return { type: error.name, message: error.message, ...(codes.length > 0 ? { code: codes.join(' < ') } : {}) };
  }
  return { type: typeof error, message: String(error) };
}

/** System error codes on the error and along its causes (a failed spawn wraps the errno error). */
function errnoCodes(error: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = error;
  // A bounded walk: a cause chain could in principle loop.
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string') codes.push(code);
    current = current.cause;
  }
  return codes;
}
