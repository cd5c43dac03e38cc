import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { RouteDependencies, RouteTable } from './routes.ts';
import { requireAdminKey } from './auth.ts';
import { invalidRequest, notFound } from './errors.ts';

const micros = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const count = z.number().int().min(1).max(1_000_000_000);
const limitsBody = z
  .object({ requests_per_minute: count.nullable().optional(), tasks_in_flight: count.nullable().optional(), spend_per_day: micros.nullable().optional() })
  .strict();
const createKeyBody = z.object({
  name: z.string().trim().min(1).max(200),
  balance: micros.nullable().optional(),
  mode: z.enum(['live', 'test']).optional(),
  limits: limitsBody.optional(),
});
const topUpBody = z.object({ amount: micros.min(1), note: z.string().max(500).optional() }).strict();
const ledgerQuery = z.object({ after: z.coerce.number().int().min(0).default(0), limit: z.coerce.number().int().min(1).max(100).default(20) });

/** The operator's API: issue, list and revoke client keys. */
export function registerAdminRoutes(app: FastifyInstance, routes: RouteTable, { keys, accounts, adminKey }: RouteDependencies): void {
  const onRequest = requireAdminKey(adminKey);

  app.post('/admin/keys', { onRequest }, async (request, reply) => {
    const parsed = createKeyBody.safeParse(request.body ?? {});
    if (!parsed.success) {
      const path = parsed.error.issues[0]?.path ?? ['name'];
      const param = path.join('.');
      const messages: Record<string, string> = {
        balance: 'balance is micro-dollars: a whole number of at least 0 (or null for an unmetered key)',
        mode: "mode is 'live' (the default) or 'test' (runs on the preview renderer, never charged)",
        limits: 'limits takes requests_per_minute, tasks_in_flight and spend_per_day (micro-dollars): whole numbers, or null for none',
      };
      throw invalidRequest(messages[String(path[0])] ?? 'name is required: a non-empty string of at most 200 characters', param);
    }
    const { name, balance, mode, limits } = parsed.data;
    return reply.status(201).send(
      await keys.create(name, {
        balance: balance ?? null,
        mode,
        limits: { limit_rpm: limits?.requests_per_minute ?? null, limit_in_flight: limits?.tasks_in_flight ?? null, limit_daily_spend: limits?.spend_per_day ?? null },
      }),
    );
  });
  app.post<{ Params: { id: string } }>('/admin/keys/:id/topup', { onRequest }, async (request) => {
    const parsed = topUpBody.safeParse(request.body ?? {});
    if (!parsed.success) {
      const param = String(parsed.error.issues[0]?.path[0] ?? 'amount');
      throw invalidRequest(param === 'note' ? 'note is a string of at most 500 characters' : 'amount is micro-dollars: a whole number of at least 1', param);
    }
    const balance = await accounts.topUp(request.params.id, parsed.data.amount, parsed.data.note ?? null);
    return { object: 'balance', key_id: request.params.id, metered: true, balance };
  });
  app.get<{ Params: { id: string } }>('/admin/keys/:id/ledger', { onRequest }, async (request) => {
    const parsed = ledgerQuery.safeParse(request.query ?? {});
    if (!parsed.success) throw invalidRequest('after is a ledger entry id (a whole number); limit is 1 to 100', String(parsed.error.issues[0]?.path[0] ?? 'limit'));
    return accounts.ledger(request.params.id, parsed.data.after, parsed.data.limit);
  });
  routes.note('/admin/keys/:id/topup', 'POST');
  routes.note('/admin/keys/:id/ledger', 'GET');
  app.get('/admin/keys', { onRequest }, async () => ({ object: 'list', data: await keys.list() }));
  app.delete<{ Params: { id: string } }>('/admin/keys/:id', { onRequest }, async (request) => {
    if (!(await keys.revoke(request.params.id))) throw notFound(`No active key with id '${request.params.id}'`, 'key_not_found');
    return { id: request.params.id, object: 'api_key.deleted', deleted: true };
  });
  routes.note('/admin/keys', 'GET', 'POST');
  routes.note('/admin/keys/:id', 'DELETE');
}
