import type { FastifyInstance } from 'fastify';
import { readUsageQuery } from '../billing/usage-query.ts';
import { requireAdminKey, requireApiKey } from './auth.ts';
import { invalidRequest } from './errors.ts';
import type { RouteDependencies, RouteTable } from './routes.ts';

/** Usage: the operator's across keys (with upstream cost and margin), and each key's own. */
export function registerUsageRoutes(app: FastifyInstance, routes: RouteTable, { keys, adminKey, accounts }: RouteDependencies): void {
  app.get('/admin/usage', { onRequest: requireAdminKey(adminKey) }, async (request) => accounts.usage(readUsageQuery(request.query, ['key', 'model', 'day'], Date.now()), true));
  app.get('/v1/usage', { onRequest: requireApiKey(keys) }, async (request) => {
    const query = readUsageQuery(request.query, ['model', 'day'], Date.now());
    if (query.keyId !== null) throw invalidRequest('A key reads its own usage only: key_id is not accepted here', 'key_id', 'unsupported_parameter');
    return accounts.usage({ ...query, keyId: request.keyId }, false);
  });
  routes.note('/admin/usage', 'GET');
  routes.note('/v1/usage', 'GET');
}
