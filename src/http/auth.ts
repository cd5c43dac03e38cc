import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyRequest } from 'fastify';
import type { KeyService } from '../auth/keys.ts';
import { ApiError, unauthorized } from './errors.ts';

/** The token of an `Authorization: Bearer …` header. */
export function bearer(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1]! : null;
}

/** The API key id a request carries, or null: the one authentication both request paths use. */
export async function apiKeyOf(keys: KeyService, headers: IncomingHttpHeaders): Promise<string | null> {
  const token = bearer(headers.authorization);
  return token ? keys.authenticate(token) : null;
}

/**
 * onRequest hook for /v1: sets request.keyId or answers 401. It runs before the body is
 * read, so nobody without a key can make us parse anything.
 */
export function requireApiKey(keys: KeyService) {
  return async (request: FastifyRequest) => {
    const keyId = await apiKeyOf(keys, request.headers);
    if (!keyId) throw unauthorized();
    request.keyId = keyId;
  };
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * onRequest hook for /admin: the operator's ADMIN_KEY (and, where given, other tokens of
 * the operator's, such as METRICS_TOKEN for GET /metrics). Both sides are hashed first, so the
 * comparison takes the same time whatever the length or content of the guess.
 */
export function requireAdminKey(adminKey: string, ...others: string[]) {
  const expected = [adminKey, ...others].map(digest);
  return async (request: FastifyRequest) => {
    const given = digest(bearer(request.headers.authorization) ?? '');
    // Every token is compared, whichever matches: the time says nothing of which.
    if (!expected.map((one) => timingSafeEqual(given, one)).includes(true)) {
      throw new ApiError(401, others.length > 0 ? 'Missing or invalid admin key or metrics token' : 'Missing or invalid admin key', 'authentication_error', 'invalid_admin_key');
    }
  };
}
