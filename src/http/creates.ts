import type { FastifyRequest } from 'fastify';
import type { KeyService } from '../auth/keys.ts';
import type { Config } from '../config.ts';
import { invalidRequest } from './errors.ts';

/** What every route that makes a task shares, whichever API shape it speaks. */

export function readIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (typeof header !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(header)) {
    throw invalidRequest('Idempotency-Key must be 1 to 255 visible ASCII characters', 'Idempotency-Key');
  }
  return header;
}

/** The rate limit of creates: a key's own requests_per_minute, else the gateway's RATE_LIMIT_PER_MINUTE. */
export function createRateLimit(keys: KeyService, config: Config) {
  return { rateLimit: { max: async (request: FastifyRequest) => (await keys.requestsPerMinute(request.keyId)) ?? config.rateLimitPerMinute, timeWindow: 60_000 } };
}
