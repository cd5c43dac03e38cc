import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { requireAdminKey, requireApiKey } from './auth.ts';
import { invalidRequest } from './errors.ts';
import type { RouteDependencies, RouteTable } from './routes.ts';

const DAY_MS = 24 * 3600 * 1000;
/** A report covers at most this span: every query it makes stays bounded. */
const MAX_SPAN_MS = 366 * DAY_MS;

/** A time as a UTC date (2026-11-01, its midnight) or Unix seconds. */
const instant = z.union([z.string().regex(/^\d{4}-\d{2}-\d{2}$/).transform((day) => Date.parse(`${day}T00:00:00Z`)), z.coerce.number().int().min(0).transform((seconds) => seconds * 1000)]);

function readQuery(raw: unknown, groups: readonly string[], now: number) {
  const schema = z.object({
    from: instant.optional(),
    to: instant.optional(),
    group_by: z.enum(groups as [string, ...string[]]).default('model'),
    key_id: z.string().max(100).optional(),
  });
  const parsed = schema.safeParse(raw ?? {});
  if (!parsed.success) {
    const param = String(parsed.error.issues[0]?.path[0] ?? 'from');
    const messages: Record<string, string> = {
      group_by: `group_by is one of ${groups.join(', ')}`,
      key_id: 'key_id is a key id',
    };
    throw invalidRequest(messages[param] ?? `${param} is a UTC date (YYYY-MM-DD) or Unix seconds`, param);
  }
  const to = parsed.data.to ?? now;
  const from = parsed.data.from ?? to - 30 * DAY_MS;
  if (!(Number.isFinite(from) && Number.isFinite(to)) || from >= to) throw invalidRequest('from must come before to', 'from');
  if (to - from > MAX_SPAN_MS) throw invalidRequest('A report covers at most 366 days', 'from');
  return { from, to, groupBy: parsed.data.group_by as 'key' | 'model' | 'day', keyId: parsed.data.key_id ?? null };
}

/** Usage: the operator's across keys (with upstream cost and margin), and each key's own. */
export function registerUsageRoutes(app: FastifyInstance, routes: RouteTable, { keys, adminKey, accounts }: RouteDependencies): void {
  app.get('/admin/usage', { onRequest: requireAdminKey(adminKey) }, async (request) => accounts.usage(readQuery(request.query, ['key', 'model', 'day'], Date.now()), true));
  app.get('/v1/usage', { onRequest: requireApiKey(keys) }, async (request) => {
    const query = readQuery(request.query, ['model', 'day'], Date.now());
    if (query.keyId !== null) throw invalidRequest('A key reads its own usage only: key_id is not accepted here', 'key_id', 'unsupported_parameter');
    return accounts.usage({ ...query, keyId: request.keyId }, false);
  });
  routes.note('/admin/usage', 'GET');
  routes.note('/v1/usage', 'GET');
}
