import type { CorsOrigins } from '../config.ts';

/**
 * Cross-origin access for browser apps, from CORS_ORIGINS (empty: none). One policy for
 * both request paths (fast-read.ts and the fastify app), so they cannot drift.
 */

/** What a browser script may read besides the basics: our polling hint, ids, retry and range headers. */
const EXPOSED = [
  'openai-poll-after-ms',
  'x-request-id',
  'x-should-retry',
  'retry-after',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  'content-range',
  'accept-ranges',
  'etag',
  'last-modified',
].join(', ');

/** Headers a client may send; browsers list what they want in Access-Control-Request-Headers. */
const ALLOWED_HEADERS = 'authorization, content-type, idempotency-key, openai-organization, openai-project, x-request-id, range, if-range, if-none-match, if-modified-since, x-stainless-*';
const PREFLIGHT_MAX_AGE_SECONDS = 600;
const VARY: Record<string, string> = { vary: 'Origin' };
const NONE: Record<string, string> = {};

export class CorsPolicy {
  constructor(private readonly origins: CorsOrigins) {}

  private allows(origin: string | undefined): origin is string {
    return origin !== undefined && (this.origins === '*' || this.origins.has(origin));
  }

  /**
   * Headers for an actual request from `origin`. The answer depends on the Origin whenever
   * a list of origins is configured, so caches are told so (Vary) even when the origin is
   * absent or refused: else a copy fetched by a plain <video src> could be served to an
   * allowed origin's fetch() without its CORS headers.
   */
  headers(origin: string | undefined): Record<string, string> {
    if (!this.allows(origin)) return this.origins !== '*' && this.origins.size > 0 ? VARY : NONE;
    return { 'access-control-allow-origin': origin, vary: 'Origin', 'access-control-expose-headers': EXPOSED };
  }

  /** Headers for a preflight (OPTIONS) asking to use `methods` of a path. */
  preflight(origin: string | undefined, methods: string, requested: string | undefined): Record<string, string> {
    if (!this.allows(origin)) return {};
    return {
      ...this.headers(origin),
      'access-control-allow-methods': methods,
      // Echo what the browser asks for (bounded), else our list: wildcards in this header are ignored when credentials are sent.
      'access-control-allow-headers': requested && /^[\w\-, ]{1,1000}$/.test(requested) ? requested : ALLOWED_HEADERS,
      'access-control-max-age': String(PREFLIGHT_MAX_AGE_SECONDS),
    };
  }
}
