import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { KeyService } from '../auth/keys.ts';
import { ApiError, unauthorized } from './errors.ts';

/** The token of an `Authorization: Bearer …` header. */
export function bearer(header: string | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1]! : null;
}

/** preHandler for /v1: sets request.keyId or answers 401. */
export function requireApiKey(keys: KeyService) {
  return async (request: FastifyRequest) => {
    const token = bearer(request.headers.authorization);
    const keyId = token ? await keys.authenticate(token) : null;
    if (!keyId) throw unauthorized();
    request.keyId = keyId;
  };
}

/** preHandler for /admin: the operator's ADMIN_KEY, compared in constant time. */
export function requireAdminKey(adminKey: string) {
  const expected = Buffer.from(adminKey);
  return async (request: FastifyRequest) => {
    const given = Buffer.from(bearer(request.headers.authorization) ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new ApiError(401, 'Missing or invalid admin key', 'authentication_error', 'invalid_admin_key');
    }
  };
}
