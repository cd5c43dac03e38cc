/** Socket error codes of a server that cannot be reached, or of a connection to it that broke. */
const CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);

/**
 * Whether `error` says that a service of ours (the database, the bucket) could not be reached
 * or dropped the connection: its own code, or that of the error it wraps (node's connect
 * gives an AggregateError with the code of its attempts).
 */
export function isUnreachable(error: unknown): boolean {
  for (let at = error, depth = 0; at && depth < 3; at = (at as { cause?: unknown }).cause, depth++) {
    const code = (at as { code?: unknown }).code;
    if (typeof code === 'string' && CODES.has(code)) return true;
  }
  return false;
}
