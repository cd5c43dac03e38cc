import type { FastifyInstance } from 'fastify';
import { requireAdminKey } from './auth.ts';
import type { RouteDependencies, RouteTable } from './routes.ts';

/** GET /metrics: the Prometheus exposition, for the admin key or METRICS_TOKEN. */
export function registerMetricsRoute(app: FastifyInstance, routes: RouteTable, { adminKey, metrics, config }: RouteDependencies): void {
  const onRequest = requireAdminKey(adminKey, ...(config.metricsToken === null ? [] : [config.metricsToken]));
  app.get('/metrics', { onRequest }, async (_request, reply) => reply.type(metrics.contentType).send(await metrics.render()));
  routes.note('/metrics', 'GET');
}
