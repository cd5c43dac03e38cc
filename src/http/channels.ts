import type { FastifyInstance } from 'fastify';
import { requireAdminKey } from './auth.ts';
import type { RouteDependencies, RouteTable } from './routes.ts';

/** GET /admin/channels: each upstream channel's models, load, error rate, last errors and breaker. */
export function registerChannelRoutes(app: FastifyInstance, routes: RouteTable, { adminKey, channelStatus }: RouteDependencies): void {
  app.get('/admin/channels', { onRequest: requireAdminKey(adminKey) }, async () => ({ object: 'list', data: await channelStatus() }));
  routes.note('/admin/channels', 'GET');
}
