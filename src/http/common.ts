import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/metrics.ts';
import type { CorsPolicy } from './cors.ts';

/**
 * What every answer shares, whichever path makes it (the poll fast path in fast-read.ts or
 * the fastify app): the request id, the headers, the log line. Both paths call these
 * functions, so a concern added here reaches every response.
 */
export class Common {
  private readonly prefix = randomBytes(4).toString('hex');
  private sequence = 0;

  constructor(
    readonly cors: CorsPolicy,
    private readonly log: Logger,
    private readonly metrics: Metrics | null = null,
  ) {}

  /** The caller's own X-Request-Id when it is a sane token, else a new one: cheap, unique per process start. */
  requestId(headers: IncomingHttpHeaders): string {
    const given = headers['x-request-id'];
    if (typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given)) return given;
    return `req_${this.prefix}${(++this.sequence).toString(36)}`;
  }

  /**
   * Sets the headers every response carries on `target`. It fills the caller's object rather
   * than returning a new one to be spread: on the poll path a spread object cost a fifth of
   * the request's CPU (bench).
   */
  addHeaders(target: Record<string, string | number>, headers: IncomingHttpHeaders, requestId: string): void {
    target['x-request-id'] = requestId;
    target['x-content-type-options'] = 'nosniff';
    Object.assign(target, this.cors.headers(headers.origin));
  }

  /**
   * Each answered request: counted and timed by route pattern (never the raw path: one
   * series per video id would be unbounded), and one line at debug, with the key's id only.
   */
  recordRequest(entry: { method: string | undefined; route: string | undefined; status: number; ms: number; keyId: string | null; request: string }): void {
    const method = entry.method ?? 'GET';
    const route = entry.route ?? 'unmatched';
    this.metrics?.request(method, route, entry.status, entry.ms / 1000);
    if (!this.log.isLevelEnabled('debug')) return;
    this.log.debug({ ...entry, route, ms: Math.round(entry.ms * 100) / 100 }, 'request');
  }
}
